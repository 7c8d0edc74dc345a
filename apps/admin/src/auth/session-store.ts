import { createHash, randomBytes } from 'node:crypto';
import type { Collection, Db } from 'mongodb';

/**
 * Server-side staff sessions. The cookie carries 32 random bytes; the database stores only their
 * SHA-256 as `_id`, so a read of `admin_sessions` (backup, support query) yields no usable session.
 * Expiry is absolute and checked on every read: FerretDB v1 has no TTL indexes, so expired rows are
 * also deleted by `deleteExpired` (run at login and periodically).
 */
export interface SessionDoc {
  _id: string; // sha256(cookie value), hex
  staffId: string;
  email: string;
  name: string;
  createdAt: Date;
  expiresAt: Date;
  /** The staff account's credentialsVersion when the login read it (absent on older sessions = 0). */
  credentialsVersion?: number;
}

export const SESSIONS_COLLECTION = 'admin_sessions';

export const sessionIdOf = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

export class SessionStore {
  readonly collection: Collection<SessionDoc>;
  constructor(
    db: Db,
    private readonly ttlMs: number,
  ) {
    this.collection = db.collection<SessionDoc>(SESSIONS_COLLECTION);
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ expiresAt: 1 });
    await this.collection.createIndex({ staffId: 1 });
  }

  /**
   * Returns the cookie value (shown to the browser only) and the stored document. `staff` as the login read it, before
   * checking the password: its credentialsVersion is what the session is bound to.
   */
  async create(staff: { _id: string; email: string; name: string; credentialsVersion?: number }, now = new Date()): Promise<{ token: string; doc: SessionDoc }> {
    const token = randomBytes(32).toString('base64url');
    const doc: SessionDoc = {
      _id: sessionIdOf(token), staffId: staff._id, email: staff.email, name: staff.name, createdAt: now, expiresAt: new Date(now.getTime() + this.ttlMs),
      credentialsVersion: staff.credentialsVersion ?? 0,
    };
    await this.collection.insertOne(doc);
    return { token, doc };
  }

  async find(token: string, now = new Date()): Promise<SessionDoc | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
    const doc = await this.collection.findOne({ _id: sessionIdOf(token) });
    return doc && doc.expiresAt.getTime() > now.getTime() ? doc : null;
  }

  async delete(token: string): Promise<void> {
    await this.collection.deleteOne({ _id: sessionIdOf(token) });
  }

  async deleteForStaff(staffId: string): Promise<number> {
    return (await this.collection.deleteMany({ staffId })).deletedCount;
  }

  async deleteExpired(now = new Date()): Promise<number> {
    return (await this.collection.deleteMany({ expiresAt: { $lte: now } })).deletedCount;
  }
}
