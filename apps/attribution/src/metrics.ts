/**
 * Events per second over a sliding window of whole seconds (for /metrics). Counts land in the bucket of
 * their second; the rate is the sum over the last `windowSeconds` complete-or-current seconds divided by
 * the time the window actually covers (so a meter that just started does not report a diluted rate).
 */
export class RateMeter {
  private readonly buckets: number[];
  private readonly seconds: number[];
  private readonly startedAt: number;
  private total = 0;

  constructor(
    private readonly windowSeconds = 60,
    private readonly clock: () => number = Date.now,
  ) {
    this.buckets = new Array<number>(windowSeconds).fill(0);
    this.seconds = new Array<number>(windowSeconds).fill(-1);
    this.startedAt = clock();
  }

  add(count = 1): void {
    if (count <= 0) return;
    const second = Math.floor(this.clock() / 1000);
    const slot = second % this.windowSeconds;
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second;
      this.buckets[slot] = 0;
    }
    this.buckets[slot]! += count;
    this.total += count;
  }

  /** Total ever counted. */
  count(): number {
    return this.total;
  }

  perSecond(): number {
    const now = this.clock();
    const second = Math.floor(now / 1000);
    let sum = 0;
    for (let i = 0; i < this.windowSeconds; i += 1) {
      const s = this.seconds[i]!;
      if (s > second - this.windowSeconds && s <= second) sum += this.buckets[i]!;
    }
    const coveredMs = Math.min(this.windowSeconds * 1000, Math.max(1000, now - this.startedAt));
    return Math.round((sum / (coveredMs / 1000)) * 100) / 100;
  }
}
