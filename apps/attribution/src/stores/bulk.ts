import { MongoBulkWriteError, MongoServerError, type AnyBulkWriteOperation, type BulkWriteResult, type Collection, type Document, type Filter, type WithId } from 'mongodb';

export const DUPLICATE_KEY = 11000;

/**
 * Operations per bulkWrite call. FerretDB 1.24 (the local MongoDB stand-in) never answers an `update`
 * command carrying 100 or more statements; smaller calls also keep one slow batch from holding the
 * SQLite write lock for long.
 */
export const BULK_CHUNK = 50;

/** Documents per call when a bulk write holds only inserts (one `insert` command, cheap everywhere). */
export const INSERT_CHUNK = 500;

export function isDuplicateKeyError(e: unknown): boolean {
  return e instanceof MongoServerError && e.code === DUPLICATE_KEY;
}

export interface BulkOutcome {
  /** Operations (by index into the input) that failed with a duplicate key error. */
  duplicateIndexes: number[];
  insertedCount: number;
  matchedCount: number;
  modifiedCount: number;
  upsertedCount: number;
}

const counts = (r: BulkWriteResult | undefined) => ({
  insertedCount: r?.insertedCount ?? 0,
  matchedCount: r?.matchedCount ?? 0,
  modifiedCount: r?.modifiedCount ?? 0,
  upsertedCount: r?.upsertedCount ?? 0,
});

async function oneCall<T extends Document>(collection: Collection<T>, ops: AnyBulkWriteOperation<T>[]): Promise<BulkOutcome> {
  try {
    const r = await collection.bulkWrite(ops, { ordered: false });
    return { duplicateIndexes: [], ...counts(r) };
  } catch (e) {
    if (!(e instanceof MongoBulkWriteError)) throw e;
    const errors = Array.isArray(e.writeErrors) ? e.writeErrors : [e.writeErrors];
    const other = errors.find((w) => w.code !== DUPLICATE_KEY);
    if (other || e.err || errors.length === 0) throw e;
    return { duplicateIndexes: errors.map((w) => w.index).sort((a, b) => a - b), ...counts(e.result) };
  }
}

/**
 * Unordered bulkWrite where a duplicate key is an answer, not a failure: the conditional upserts and
 * insert-if-absent writes of this app use it to mean "the stored document already wins" (or, for a CAS
 * insert, "someone else got there first"). Any other write error is thrown. Sent in chunks of BULK_CHUNK
 * (INSERT_CHUNK when every operation is an insert).
 */
export async function bulkWriteAllowingDuplicates<T extends Document>(collection: Collection<T>, ops: AnyBulkWriteOperation<T>[]): Promise<BulkOutcome> {
  const total: BulkOutcome = { duplicateIndexes: [], insertedCount: 0, matchedCount: 0, modifiedCount: 0, upsertedCount: 0 };
  // Only update statements need small calls; inserts go as one `insert` command of many documents.
  const chunk = ops.every((op) => 'insertOne' in op) ? INSERT_CHUNK : BULK_CHUNK;
  for (let start = 0; start < ops.length; start += chunk) {
    const r = await oneCall(collection, ops.slice(start, start + chunk));
    total.duplicateIndexes.push(...r.duplicateIndexes.map((i) => i + start));
    total.insertedCount += r.insertedCount;
    total.matchedCount += r.matchedCount;
    total.modifiedCount += r.modifiedCount;
    total.upsertedCount += r.upsertedCount;
  }
  return total;
}

/** Up to this many ids are looked up one by one (in parallel); more with one `$in` query. */
export const POINT_READ_MAX = 8;

/**
 * Documents with these `_id`s (missing ones are simply absent). A few ids are read one by one: FerretDB
 * 1.24 only uses an index for `_id` equality (a `$in` scans the collection there), and on MongoDB a few
 * parallel point reads cost about what one `$in` does. More ids: one `$in` query (on FerretDB one scan
 * is then cheaper than many serialized point reads).
 */
export async function findByIds<T extends { _id: string }>(collection: Collection<T>, ids: readonly string[]): Promise<WithId<T>[]> {
  const distinct = [...new Set(ids)];
  if (distinct.length === 0) return [];
  if (distinct.length > POINT_READ_MAX) {
    return (await collection.find({ _id: { $in: distinct } } as Filter<T>).toArray()) as WithId<T>[];
  }
  const found: Array<WithId<T> | null> = await Promise.all(distinct.map((id) => collection.findOne({ _id: id } as Filter<T>) as Promise<WithId<T> | null>));
  return found.filter((d): d is WithId<T> => d !== null);
}

/** One clause as it is, several as `$or` (each clause names its website, so indexes still apply per clause). */
export function anyOf<T>(clauses: Filter<T>[]): Filter<T> {
  return clauses.length === 1 ? clauses[0]! : ({ $or: clauses } as Filter<T>);
}
