import type { Db } from 'mongodb';
import { DeliveryLog } from './deliveries';
import type { DeliveryDoc } from './documents';

// The driver's errors for an unordered insertMany, as it builds them: a bulk error carries the first write error's
// code on itself and every write error (index, code, errmsg) in `writeErrors`.
function logFailingWith(error: unknown): DeliveryLog {
  const collection = { insertMany: async () => { throw error; } };
  return new DeliveryLog({ collection: () => collection } as unknown as Db);
}

const docs = [{ _id: 'd1' }, { _id: 'd2' }, { _id: 'd3' }] as unknown as DeliveryDoc[];
const bulkError = (codes: number[], extra: object = {}) =>
  Object.assign(new Error('bulk write failed'), { code: codes[0], writeErrors: codes.map((code, index) => ({ code, index, errmsg: `error ${code}` })), ...extra });

describe('DeliveryLog.insertMany', () => {
  it('counts duplicate ids as written (a retried flush)', async () => {
    await expect(logFailingWith(bulkError([11000, 11000])).insertMany(docs)).resolves.toEqual({ refused: [] });
    await expect(logFailingWith(Object.assign(new Error('E11000'), { code: 11000 })).insertMany(docs)).resolves.toEqual({ refused: [] });
  });

  it('answers the documents refused for another reason, even behind a first duplicate (the bulk error says 11000)', async () => {
    const r = await logFailingWith(bulkError([11000, 10334])).insertMany(docs);
    expect(r.refused).toEqual([{ doc: docs[1], code: 10334, message: 'error 10334' }]);
    const first = await logFailingWith(bulkError([121, 11000, 121])).insertMany(docs);
    expect(first.refused.map((x) => x.doc)).toEqual([docs[0], docs[2]]);
  });

  it('throws when the call failed as a whole: write concern, no write errors, not a write error', async () => {
    await expect(logFailingWith(bulkError([11000], { writeConcernError: { code: 64 } })).insertMany(docs)).rejects.toThrow('bulk write failed');
    await expect(logFailingWith(bulkError([])).insertMany(docs)).rejects.toThrow('bulk write failed');
    await expect(logFailingWith(new Error('connection closed')).insertMany(docs)).rejects.toThrow('connection closed');
  });
});
