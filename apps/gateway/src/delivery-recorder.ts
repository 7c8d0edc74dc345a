import { randomUUID } from 'node:crypto';
import type { DeliveryDoc, DeliveryLog } from '@metrivo/integration-store';

type Logger = { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };

export type DeliveryInput = Omit<DeliveryDoc, '_id' | 'expireAt'>;

/**
 * Records every webhook attempt for support without slowing the accept path: `record` only queues;
 * a timer writes queued records in one insertMany. When MongoDB is down the queue is kept (up to
 * `maxQueued`, oldest dropped first with a warning) and retried on the next tick; a record MongoDB refuses on
 * its own (not a duplicate) is dropped with an error instead, so it cannot hold up the ones behind it. The
 * delivery log is a support aid, never a reason to refuse or delay a webhook.
 */
export class DeliveryRecorder {
  private queue: DeliveryDoc[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private dropped = 0;
  private refused = 0;
  /** Records of the write in progress (out of `queue`, not yet stored). */
  private writing = 0;

  constructor(
    private readonly log: Pick<DeliveryLog, 'insertMany'>,
    private readonly logger: Logger,
    private readonly retentionDays: number,
    private readonly flushEveryMs = 250,
    private readonly maxQueued = 50_000,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.flushEveryMs);
    this.timer.unref();
  }

  /** Records waiting for the next write; records lost to queue overflow (`dropped`) or refused by MongoDB. */
  stats(): { queued: number; dropped: number; refused: number } {
    return { queued: this.queue.length + this.writing, dropped: this.dropped, refused: this.refused };
  }

  /** `traceId` (the request's): support goes from a delivery to its log lines with it. */
  record(input: DeliveryInput): void {
    const expireAt = new Date(input.receivedAt.getTime() + this.retentionDays * 86_400_000);
    this.queue.push({ ...input, traceId: input.traceId ?? null, _id: randomUUID(), expireAt });
    this.trimQueue();
  }

  /** Over `maxQueued` (MongoDB down for long): the oldest records go, counted one by one in `dropped`. */
  private trimQueue(): void {
    const excess = this.queue.length - this.maxQueued;
    if (excess <= 0) return;
    this.queue.splice(0, excess);
    const warnedBefore = Math.floor(this.dropped / 1000);
    this.dropped += excess;
    if (warnedBefore === 0 || Math.floor(this.dropped / 1000) > warnedBefore) this.logger.warn({ dropped: this.dropped }, 'delivery log queue full; oldest records dropped');
  }

  /** Writes everything queued so far; concurrent calls share one write. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.queue.length === 0) return Promise.resolve();
    const batch = this.queue;
    this.queue = [];
    this.writing = batch.length;
    this.flushing = this.log
      .insertMany(batch)
      .then(({ refused }) => {
        // Refused one by one (not duplicates): they would fail again, so they are dropped, loudly, not retried.
        if (refused.length === 0) return;
        this.refused += refused.length;
        this.logger.error(
          {
            refused: refused.length, refusedTotal: this.refused, codes: [...new Set(refused.map((r) => r.code))],
            ids: refused.slice(0, 10).map((r) => r.doc?._id ?? null), first: refused[0]!.message.slice(0, 300),
          },
          'delivery log: MongoDB refused records; they are dropped',
        );
      })
      .catch((err: unknown) => {
        this.logger.error({ err, records: batch.length }, 'delivery log write failed; will retry');
        this.writing = 0;
        this.queue = [...batch, ...this.queue];
        this.trimQueue(); // what arrived meanwhile plus the batch put back may exceed the bound
      })
      .finally(() => {
        this.writing = 0;
        this.flushing = null;
      });
    return this.flushing;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
    if (this.queue.length) await this.flush();
  }

  pending(): number {
    return this.queue.length;
  }
}
