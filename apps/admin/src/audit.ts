import { newId } from '@metrivo/integration-store';
import type { Collection, Db } from 'mongodb';

/** Who made a change: a logged-in staff member, the automation token, or the staff CLI on a server. */
export type Actor =
  | { type: 'staff'; staffId: string; email: string }
  | { type: 'token' }
  | { type: 'cli'; user: string };

export type AuditAction =
  | 'integration.create'
  | 'integration.secret.set'
  | 'integration.secrets.reseal'
  | 'integration.disable'
  | 'integration.enable'
  | 'api_key.create'
  | 'api_key.revoke'
  | 'staff.create'
  | 'staff.password.set'
  | 'staff.disable'
  | 'staff.enable'
  | 'staff.login'
  | 'staff.logout';

/** Scalars only, so a secret can't ride along inside a nested object by accident. */
export type AuditDetails = Record<string, string | number | boolean | null>;

export interface AuditDoc {
  _id: string;
  at: Date;
  actor: Actor;
  action: AuditAction;
  target: { type: 'integration' | 'api_key' | 'staff' | 'session'; id: string };
  websiteId: string | null;
  /** Never a secret, API key or password: last4, key prefix, hours, provider… */
  details: AuditDetails;
  ip: string | null;
}

export const AUDIT_COLLECTION = 'admin_audit';

export type AuditEntry = Omit<AuditDoc, '_id' | 'at'> & { at?: Date };

export class AuditLog {
  readonly collection: Collection<AuditDoc>;
  constructor(db: Db) {
    this.collection = db.collection<AuditDoc>(AUDIT_COLLECTION);
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ at: -1 });
    await this.collection.createIndex({ 'target.id': 1, at: -1 });
    await this.collection.createIndex({ websiteId: 1, at: -1 });
  }

  async record(entry: AuditEntry): Promise<AuditDoc> {
    const doc: AuditDoc = { _id: newId('aud'), at: entry.at ?? new Date(), actor: entry.actor, action: entry.action, target: entry.target, websiteId: entry.websiteId, details: entry.details, ip: entry.ip };
    await this.collection.insertOne(doc);
    return doc;
  }

  async recent(filter: { targetId?: string; websiteId?: string } = {}, limit = 100): Promise<AuditDoc[]> {
    const q: Record<string, string> = {};
    if (filter.targetId) q['target.id'] = filter.targetId;
    if (filter.websiteId) q.websiteId = filter.websiteId;
    return (await this.collection.find(q).sort({ at: -1 }).limit(limit).toArray()).map(withoutUncheckedLast4);
  }
}

/**
 * Marks a secret-set entry whose `last4` follows the rule "shown only for secrets of 24 characters or more". Entries
 * written before that rule kept the last 4 characters of every secret — half of an 8-character Razorpay secret —
 * and cannot tell how long it was, so their `last4` is never shown.
 */
export const LAST4_CHECKED = 'last4Checked';

function withoutUncheckedLast4(doc: AuditDoc): AuditDoc {
  if (doc.details.last4 === undefined || doc.details.last4 === null || doc.details[LAST4_CHECKED] === true) return doc;
  return { ...doc, details: { ...doc.details, last4: null } };
}

export function describeActor(actor: Actor): string {
  switch (actor.type) {
    case 'staff':
      return actor.email;
    case 'token':
      return 'API token';
    case 'cli':
      return `CLI (${actor.user})`;
  }
}
