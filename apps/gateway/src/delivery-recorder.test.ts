import type { DeliveryDoc, RefusedDelivery } from '@metrivo/integration-store';
import { DeliveryRecorder, type DeliveryInput } from './delivery-recorder';

const input = (providerEventId: string): DeliveryInput => ({
  integrationId: 'int_1', websiteId: 'w_1', provider: 'stripe', receivedAt: new Date('2026-11-29T10:00:00Z'), providerEventId,
  eventType: 'charge.succeeded', livemode: false, outcome: 'accepted', httpStatus: 200, errorCode: null, published: 1,
  hadMetrivoSignals: false, durationMs: 1, traceId: null,
});

/** A delivery log whose answers are scripted per call; it keeps every batch it was given. */
function scriptedLog(answers: Array<(batch: DeliveryDoc[]) => { refused: RefusedDelivery[] } | Error>) {
  const batches: string[][] = [];
  return {
    batches,
    async insertMany(batch: DeliveryDoc[]) {
      batches.push(batch.map((d) => d.providerEventId!));
      const answer = (answers.shift() ?? (() => ({ refused: [] })))(batch);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
}

function logger() {
  const errors: Array<{ fields: Record<string, unknown>; message: string }> = [];
  return { errors, warn: () => undefined, error: (fields: object, message: string) => void errors.push({ fields: fields as Record<string, unknown>, message }) };
}

describe('DeliveryRecorder', () => {
  it('drops records MongoDB refused one by one (with an error), instead of retrying them before everything else', async () => {
    const log = scriptedLog([(batch) => ({ refused: [{ doc: batch[1]!, code: 10334, message: 'object to insert too large' }] })]);
    const l = logger();
    const recorder = new DeliveryRecorder(log, l, 30);
    ['evt_1', 'evt_2', 'evt_3'].forEach((id) => recorder.record(input(id)));
    await recorder.flush();
    recorder.record(input('evt_4'));
    await recorder.flush();
    expect(log.batches).toEqual([['evt_1', 'evt_2', 'evt_3'], ['evt_4']]);
    expect(recorder.pending()).toBe(0);
    expect(l.errors).toEqual([expect.objectContaining({ message: 'delivery log: MongoDB refused records; they are dropped', fields: expect.objectContaining({ refused: 1, codes: [10334] }) })]);
  });

  it('keeps the whole batch, in order, when the write failed as a whole (MongoDB down) and writes it next time', async () => {
    const log = scriptedLog([() => new Error('connection closed')]);
    const l = logger();
    const recorder = new DeliveryRecorder(log, l, 30);
    ['evt_1', 'evt_2'].forEach((id) => recorder.record(input(id)));
    await recorder.flush();
    recorder.record(input('evt_3'));
    expect(recorder.pending()).toBe(3);
    await recorder.flush();
    expect(log.batches).toEqual([['evt_1', 'evt_2'], ['evt_1', 'evt_2', 'evt_3']]);
    expect(recorder.pending()).toBe(0);
    expect(l.errors.map((e) => e.message)).toEqual(['delivery log write failed; will retry']);
  });

  it('stats: queued counts the write in progress; dropped counts every record lost to the bound, also after a failed write', async () => {
    let release!: (value: Error) => void;
    const pendingWrite = new Promise<Error>((resolve) => (release = resolve));
    const batches: string[][] = [];
    const log = {
      async insertMany(batch: DeliveryDoc[]) {
        batches.push(batch.map((d) => d.providerEventId!));
        const outcome = batches.length === 1 ? await pendingWrite : null; // the first write hangs, then fails
        if (outcome) throw outcome;
        return { refused: [] };
      },
    };
    const recorder = new DeliveryRecorder(log, logger(), 30, 250, 3);
    ['a', 'b', 'c', 'd', 'e'].forEach((id) => recorder.record(input(id)));
    expect(recorder.stats()).toEqual({ queued: 3, dropped: 2, refused: 0 }); // a and b: two records, not one "overflow"
    const first = recorder.flush();
    expect(recorder.stats()).toEqual({ queued: 3, dropped: 2, refused: 0 }); // c, d, e being written
    ['f', 'g'].forEach((id) => recorder.record(input(id)));
    expect(recorder.stats().queued).toBe(5);
    release(new Error('connection closed'));
    await first;
    // c d e put back in front of f g: over the bound of 3, the oldest two go.
    expect(recorder.stats()).toEqual({ queued: 3, dropped: 4, refused: 0 });
    await recorder.flush();
    expect(batches).toEqual([['c', 'd', 'e'], ['e', 'f', 'g']]);
  });
});
