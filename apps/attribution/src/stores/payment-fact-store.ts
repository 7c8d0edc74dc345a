import type { Collection, Db } from 'mongodb';
import { factDocumentId, isTrialStartReport, toStoredPaymentFact, type StoredPaymentFact } from '../domain';
import { bulkWriteAllowingDuplicates, findByIds } from './bulk';
import type { LookupEntry, LookupKeyStore } from './lookup-keys';

export type PaymentFactDocument = StoredPaymentFact & { _id: string };

export const PAYMENT_FACTS_COLLECTION = 'attribution_payment_facts';

/**
 * The lookup entries of a fact, derived from its event: its link keys, and for a trial start the session it names
 * (session retention keeps that session: the trial converts with it, possibly after the retention period).
 */
export function factLookupEntries(id: string, fact: Pick<StoredPaymentFact, 'event'>): LookupEntry[] {
  const { websiteId } = fact.event;
  const entries: LookupEntry[] = toStoredPaymentFact(fact.event).linkKeys.map((key) => ({ kind: 'fact-links', websiteId, key, id }));
  const sessionId = fact.event.type === 'payment' ? fact.event.signals.sessionId : null;
  if (isTrialStartReport(fact.event) && sessionId) entries.push({ kind: 'trial-sessions', websiteId, key: sessionId, id });
  return entries;
}

/**
 * A stored fact with its link keys derived again from its event: a fact stored by an earlier version keeps the
 * keys that version derived (facts are never rewritten), while a redelivery of its event adds the lookup keys
 * of today's derivation (e.g. `trial:` keys). Checking against the stored list would find such a fact through
 * the new key only sometimes (after a redelivery), making results depend on arrival order.
 */
function toFact(d: PaymentFactDocument): StoredPaymentFact {
  return toStoredPaymentFact(d.event);
}

/**
 * Normalized payment events as immutable facts (the money truth everything else is derived from).
 * Inserted if absent under a deterministic _id, so a redelivered event is a no-op.
 */
export class PaymentFactStore {
  readonly collection: Collection<PaymentFactDocument>;

  constructor(
    db: Db,
    private readonly lookups: LookupKeyStore,
  ) {
    this.collection = db.collection<PaymentFactDocument>(PAYMENT_FACTS_COLLECTION);
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ websiteId: 1, linkKeys: 1 }, { name: 'website_link_keys' });
  }

  /** Returns how many facts were new. */
  async insertIfAbsent(facts: readonly StoredPaymentFact[]): Promise<number> {
    const byId = new Map(facts.map((f) => [factDocumentId(f), f]));
    // Lookup keys first: a crash before the fact is stored leaves keys pointing at nothing (skipped).
    await this.lookups.add([...byId].flatMap(([id, f]) => factLookupEntries(id, f)));
    const outcome = await bulkWriteAllowingDuplicates(
      this.collection,
      [...byId].map(([_id, fact]) => ({ insertOne: { document: { _id, ...fact } } })),
    );
    return outcome.insertedCount;
  }

  async findByLinkKeys(websiteId: string, keys: readonly string[]): Promise<StoredPaymentFact[]> {
    return (await this.findByLinkKeysMany([{ websiteId, keys }])).get(websiteId) ?? [];
  }

  /** Facts of several websites' link keys (lookup keys, then the facts by `_id`), per website. */
  async findByLinkKeysMany(requests: ReadonlyArray<{ websiteId: string; keys: readonly string[] }>): Promise<Map<string, StoredPaymentFact[]>> {
    const wanted = requests.filter((r) => r.keys.length > 0);
    const out = new Map<string, StoredPaymentFact[]>();
    if (wanted.length === 0) return out;
    const linked = await this.lookups.lookupMany('fact-links', wanted);
    const ids = [...linked.values()].flatMap((byKey) => [...byKey.values()].flat());
    const keysOf = new Map(wanted.map((r) => [r.websiteId, new Set(r.keys)]));
    for (const d of await findByIds(this.collection, ids)) {
      // Re-checked: a fact is only ever linked under its own website's keys.
      const keys = keysOf.get(d.websiteId);
      const fact = toFact(d);
      if (!keys || !fact.linkKeys.some((k) => keys.has(k))) continue;
      out.set(d.websiteId, [...(out.get(d.websiteId) ?? []), fact]);
    }
    return out;
  }
}
