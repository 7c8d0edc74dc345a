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
    };
    try {
      await this.collection.insertOne(doc);
    } catch (err) {
      if ((err as { code?: number }).code === 11000) throw new StaffExistsError(`a staff account for ${doc.email} already exists`);
      throw err;
    }
    return doc;
  }

  findByEmail(email: string): Promise<StaffDoc | null> {
    return this.collection.findOne({ email: normalizeStaffEmail(email) });
  }

  list(): Promise<StaffDoc[]> {
    return this.collection.find({}, { projection: { passwordHash: 0 } }).sort({ email: 1 }).toArray();
  }

  async setPassword(email: string, password: string, now = new Date()): Promise<StaffDoc | null> {
    const passwordHash = await hashPassword(password);
    return this.collection.findOneAndUpdate({ email: normalizeStaffEmail(email) }, { $set: { passwordHash, updatedAt: now } }, { returnDocument: 'after' });
  }

  async setDisabled(email: string, disabled: boolean, now = new Date()): Promise<StaffDoc | null> {
    return this.collection.findOneAndUpdate(
      { email: normalizeStaffEmail(email) },
      { $set: { disabledAt: disabled ? now : null, updatedAt: now } },
      { returnDocument: 'after' },
    );
  }
}
