import { newId } from '@metrivo/integration-store';
import type { Collection, Db } from 'mongodb';
import { hashPassword } from './passwords';

export interface StaffDoc {
  _id: string; // staff_…
  /** Trimmed, lower-cased; unique. */
  email: string;
  name: string;
  /** argon2id PHC string. */
  passwordHash: string;
  createdAt: Date;
  updatedAt: Date;
  disabledAt: Date | null;
  /**
   * Bumped by set-password and disable. A session stores the version it was created under and is refused
   * once they differ: deleting the account's sessions alone misses a login that read the account before the
   * change and saved its session after the delete (argon2 takes tens of ms in between). A counter, not a
   * time, because the CLI runs on another machine whose clock may differ. Absent on older accounts (= 0).
   */
  credentialsVersion?: number;
}

/** Whether a session created under `sessionVersion` may still act for this account. */
export function staffAllowsSession(staff: Pick<StaffDoc, 'disabledAt' | 'credentialsVersion'> | null, sessionVersion: number | undefined): boolean {
  return staff !== null && staff.disabledAt === null && (staff.credentialsVersion ?? 0) === (sessionVersion ?? 0);
}

export const STAFF_COLLECTION = 'admin_staff';

export const normalizeStaffEmail = (email: string) => email.trim().toLowerCase();

export class StaffExistsError extends Error {
  override name = 'StaffExistsError';
}

export class StaffStore {
  readonly collection: Collection<StaffDoc>;
  constructor(db: Db) {
    this.collection = db.collection<StaffDoc>(STAFF_COLLECTION);
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ email: 1 }, { unique: true });
  }

  async create(input: { email: string; name: string; password: string }, now = new Date()): Promise<StaffDoc> {
    const doc: StaffDoc = {
      _id: newId('staff'),
      email: normalizeStaffEmail(input.email),
      name: input.name.trim(),
      passwordHash: await hashPassword(input.password),
      createdAt: now,
      updatedAt: now,
      disabledAt: null,
      credentialsVersion: 0,
    };
    try {
      await this.collection.insertOne(doc);
    } catch (err) {
      if ((err as { code?: number }).code === 11000) throw new StaffExistsError(`a staff account for ${doc.email} already exists`);
      throw err;
    }
    return doc;
  }

  findById(id: string): Promise<StaffDoc | null> {
    return this.collection.findOne({ _id: id }, { projection: { passwordHash: 0 } });
  }

  findByEmail(email: string): Promise<StaffDoc | null> {
    return this.collection.findOne({ email: normalizeStaffEmail(email) });
  }

  list(): Promise<StaffDoc[]> {
    return this.collection.find({}, { projection: { passwordHash: 0 } }).sort({ email: 1 }).toArray();
  }

  async setPassword(email: string, password: string, now = new Date()): Promise<StaffDoc | null> {
    const passwordHash = await hashPassword(password);
    return this.collection.findOneAndUpdate({ email: normalizeStaffEmail(email) }, { $set: { passwordHash, updatedAt: now }, $inc: { credentialsVersion: 1 } }, { returnDocument: 'after' });
  }

  async setDisabled(email: string, disabled: boolean, now = new Date()): Promise<StaffDoc | null> {
    // Disabling also bumps the version: a session that slipped past the disable stays invalid after a later enable.
    return this.collection.findOneAndUpdate(
      { email: normalizeStaffEmail(email) },
      { $set: { disabledAt: disabled ? now : null, updatedAt: now }, ...(disabled ? { $inc: { credentialsVersion: 1 } } : {}) },
      { returnDocument: 'after' },
    );
  }
}
