import { TOPICS, type PaymentState } from '@metrivo/contracts';
import { MongoClient, type Db } from 'mongodb';
import { KafkaUnavailableError } from '@metrivo/kafka';
import { DEFAULT_ATTRIBUTION_SETTINGS, factDocumentId, toStoredPaymentFact, type PaymentRecord } from '../domain';
import { emailHashOf, payment, session } from '../domain/test-support/builders';
import { createReferenceEdge } from '../domain/test-support/reference-edge';
import { AttributionProcessor, type StatePublisher } from '../processor';
import { dropDatabase, mongodbUri, uniqueId } from '../test-support/int-helpers';
import { FACT_KEYS_FROM_EVENTS_READY_ID } from './lookup-keys';
import { backfillLookupKeys, createStores, ensureIndexes, findByIds, LookupKeyStore, lookupDocumentId, POINT_READ_MAX, SessionStore, type AttributionStores } from '.';

const dbName = uniqueId('test_attribution_stores');
let client: MongoClient;
let db: Db;
let stores: AttributionStores;

beforeAll(async () => {
  client = new MongoClient(mongodbUri(), { ignoreUndefined: true });
  await client.connect();
  db = client.db(dbName);
  stores = createStores(db);
  await ensureIndexes(stores);
});
afterAll(async () => {
  await client?.close();
  await dropDatabase(dbName);
});

const quietLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** Records as the domain writes them, for a fresh website. */
function recordsFor(websiteId: string, events: Parameters<typeof payment>[0][]): PaymentRecord[] {
  const edge = createReferenceEdge(websiteId);
  edge.ingestPayments(events.map((e) => payment({ ...e, websiteId })), '2026-11-29T12:00:00.000Z');
  return edge.records();
}

describe('SessionStore', () => {
  it('keeps the latest version of a session whatever the order, batching and duplication of deliveries', async () => {
    const w = uniqueId('w');
    const v = (lastSeenAt: string, landingPage: string) => session({ websiteId: w, sessionId: 's1', visitorId: 'v1', startedAt: '2026-11-29T10:00:00Z', lastSeenAt, landingPage });
    const v1 = v('2026-11-29T10:05:00Z', '/a');
    const v2 = v('2026-11-29T10:10:00.500Z', '/b');
    const v3 = v('2026-11-29T10:20:00Z', '/c');
    await stores.sessions.storeSessions([v2]);
    await stores.sessions.storeSessions([v3, v1, v3]);
    await stores.sessions.storeSessions([v1]);
    await stores.sessions.storeSessions([v2, v2]);
    const stored = await stores.sessions.sessions.find({ websiteId: w }).toArray();
    expect(stored).toHaveLength(1);
    expect(stored[0]!.session).toEqual(v3);
  });

  it('breaks lastSeenAt ties the same way for either order (same final document)', async () => {
    const w = uniqueId('w');
    const at = { websiteId: w, sessionId: 's1', visitorId: 'v1', startedAt: '2026-11-29T10:00:00Z', lastSeenAt: '2026-11-29T10:07:00Z' };
    const a = session({ ...at, landingPage: '/pricing' });
    const b = session({ ...at, landingPage: '/signup' });
    const kept: string[] = [];
    for (const order of [[a, b], [b, a]]) {
      const store = new SessionStore(db, new LookupKeyStore(db)); // a fresh instance per run: nothing remembered
      for (const version of order) await store.storeSessions([version]);
      const doc = await store.sessions.findOne({ websiteId: w });
      kept.push(doc!.session.landingPage!);
      await store.sessions.deleteMany({ websiteId: w });
    }
    expect(kept[0]).toBe(kept[1]);
  });

  it('keeps the newest version when two writers insert the same new session at once', async () => {
    for (let i = 0; i < 5; i += 1) {
      const w = uniqueId('w');
      const older = session({ websiteId: w, sessionId: 's', visitorId: 'v', startedAt: '2026-11-29T10:00:00Z', lastSeenAt: '2026-11-29T10:01:00Z' });
      const newer = { ...older, lastSeenAt: '2026-11-29T10:09:00.000Z' };
      await Promise.all([stores.sessions.storeSessions([older]), stores.sessions.storeSessions([newer])]);
      const stored = await stores.sessions.sessions.findOne({ websiteId: w });
      expect(stored!.session.lastSeenAt).toBe(newer.lastSeenAt);
    }
  });

  it('with a lastSeen resolution, skips re-sends that only moved lastSeenAt a little, but never misses a content change', async () => {
    const coarse = new SessionStore(db, new LookupKeyStore(db), { lastSeenResolutionMs: 60 * 60_000 });
    const w = uniqueId('w');
    const at = (lastSeenAt: string, landingPage = '/a') => session({ websiteId: w, sessionId: 's1', visitorId: 'v1', startedAt: '2026-11-29T10:00:00Z', lastSeenAt, landingPage });
    const stored = async () => (await coarse.sessions.findOne({ websiteId: w }))!.session;
    expect(await coarse.storeSessions([at('2026-11-29T10:01:00Z')])).toBe(1);
    expect(await coarse.storeSessions([at('2026-11-29T10:40:00Z')])).toBe(0); // same content, 39 min later: skipped
    expect((await stored()).lastSeenAt).toBe('2026-11-29T10:01:00Z');
    expect(await coarse.storeSessions([at('2026-11-29T11:30:00Z')])).toBe(1); // more than the resolution later
    expect(await coarse.storeSessions([at('2026-11-29T11:35:00Z', '/b')])).toBe(1); // other content: latest wins at once
    expect(await coarse.storeSessions([at('2026-11-29T11:32:00Z', '/c')])).toBe(0); // older
    expect(await stored()).toEqual(at('2026-11-29T11:35:00Z', '/b'));
  });

  it('keeps one sighting per identity: an identify event over a payment (whatever their times), then the earliest', async () => {
    const w = uniqueId('w');
    const base = { websiteId: w, emailHash: emailHashOf('jane'), visitorId: 'v1' };
    const stored = async () => (await stores.sessions.identities.find({ websiteId: w }).toArray()).map((d) => [d.at, d.learnedFrom]);
    await stores.sessions.storeIdentities([{ ...base, at: '2026-11-29T10:00:00.000Z', learnedFrom: 'payment' }]);
    await stores.sessions.storeIdentities([{ ...base, at: '2026-11-29T09:00:00.000Z', learnedFrom: 'payment' }]);
    expect(await stored()).toEqual([['2026-11-29T09:00:00.000Z', 'payment']]); // earliest payment
    // A later identify event still replaces it: it vouches for every payment, a payment sighting only for later ones.
    await stores.sessions.storeIdentities([{ ...base, at: '2026-11-29T11:00:00.000Z', learnedFrom: 'identify' }]);
    expect(await stored()).toEqual([['2026-11-29T11:00:00.000Z', 'identify']]);
    await stores.sessions.storeIdentities([{ ...base, at: '2026-11-29T08:00:00.000Z', learnedFrom: 'payment' }]);
    await stores.sessions.storeIdentities([{ ...base, at: '2026-11-29T12:00:00.000Z', learnedFrom: 'identify' }]);
    expect(await stored()).toEqual([['2026-11-29T11:00:00.000Z', 'identify']]);
    await stores.sessions.storeIdentities([{ ...base, at: '2026-11-29T10:30:00.000Z', learnedFrom: 'identify' }]);
    expect(await stored()).toEqual([['2026-11-29T10:30:00.000Z', 'identify']]); // earliest identify
    // Both kinds in one batch: the same choice.
    const w2 = uniqueId('w');
    await stores.sessions.storeIdentities([
      { ...base, websiteId: w2, at: '2026-11-29T12:00:00.000Z', learnedFrom: 'identify' },
      { ...base, websiteId: w2, at: '2026-11-29T09:00:00.000Z', learnedFrom: 'payment' },
    ]);
    expect((await stores.sessions.identities.find({ websiteId: w2 }).toArray()).map((d) => d.learnedFrom)).toEqual(['identify']);
  });

  it('loads a view with what sessionLookups asks for, and only for its website', async () => {
    const w = uniqueId('w');
    const other = uniqueId('w');
    await stores.sessions.storeSessions([
      session({ websiteId: w, sessionId: 'old_named', visitorId: 'v_old', startedAt: '2026-01-01T10:00:00Z' }),
      session({ websiteId: w, sessionId: 'old1', visitorId: 'v_only_old', startedAt: '2026-02-01T10:00:00Z' }),
      session({ websiteId: w, sessionId: 'old2', visitorId: 'v_only_old', startedAt: '2026-03-01T10:00:00Z' }),
      session({ websiteId: w, sessionId: 'recent', visitorId: 'v_email', startedAt: '2026-11-28T10:00:00Z' }),
      session({ websiteId: w, sessionId: 'too_old', visitorId: 'v_email', startedAt: '2026-05-28T10:00:00Z' }),
      session({ websiteId: other, sessionId: 'recent', visitorId: 'v_email', startedAt: '2026-11-28T11:00:00Z' }),
    ]);
    await stores.sessions.storeIdentities([{ websiteId: w, emailHash: emailHashOf('jane'), visitorId: 'v_email', at: '2026-11-28T10:01:00Z', learnedFrom: 'identify' }]);
    const view = await stores.sessions.loadView(w, {
      sessionIds: ['old_named', 'missing'],
      visitorIds: ['v_only_old'],
      emailHashes: [emailHashOf('jane')],
      since: '2026-10-30T00:00:00.000Z',
    });
    expect(view.getSession('old_named')?.visitorId).toBe('v_old'); // named: any age
    expect(view.getSession('missing')).toBeNull();
    expect(view.isKnownVisitor('v_only_old')).toBe(true); // only its latest session, to know it
    expect(view.visitorSessionsBetween('v_only_old', '2026-01-01T00:00:00Z', '2026-12-31T00:00:00Z').map((s) => s.sessionId)).toEqual(['old2']);
    expect(view.visitorsForEmail(emailHashOf('jane')).map((i) => i.visitorId)).toEqual(['v_email']);
    const sessionsOfEmailVisitor = view.visitorSessionsBetween('v_email', '2026-01-01T00:00:00Z', '2026-12-31T00:00:00Z');
    expect(sessionsOfEmailVisitor.map((s) => [s.sessionId, s.websiteId])).toEqual([['recent', w]]);
  });

  it('deletes sessions last seen before the cutoff and nothing else, and their ids from the lookup keys', async () => {
    const w = uniqueId('w');
    await stores.sessions.storeSessions([
      session({ websiteId: w, sessionId: 'gone', visitorId: 'v', startedAt: '2000-01-01T10:00:00Z' }),
      session({ websiteId: w, sessionId: 'kept', visitorId: 'v', startedAt: '2026-11-01T10:00:00Z' }),
      session({ websiteId: w, sessionId: 'gone_too', visitorId: 'v_old', startedAt: '2000-02-01T10:00:00Z' }),
      session({ websiteId: w, sessionId: 'gone_also', visitorId: 'v_old', startedAt: '2000-03-01T10:00:00Z' }),
    ]);
    const keysOf = async (visitor: string): Promise<string[] | undefined> =>
      (await stores.lookups.collection.findOne({ _id: lookupDocumentId('visitor-sessions', w, visitor) }))?.ids.slice().sort();
    expect(await keysOf('v')).toHaveLength(2);
    expect(await keysOf('v_old')).toHaveLength(2);
    // Small pages: the loop must go on until nothing expired is left.
    const deleted = await stores.sessions.deleteSessionsLastSeenBefore(new Date('2001-01-01T00:00:00Z'), 1);
    expect(deleted.sessions).toBeGreaterThanOrEqual(3);
    expect(deleted.lookupKeys).toBeGreaterThanOrEqual(1);
    expect((await stores.sessions.sessions.find({ websiteId: w }).toArray()).map((d) => d.session.sessionId)).toEqual(['kept']);
    const kept = (await stores.sessions.sessions.findOne({ websiteId: w }))!._id;
    expect(await keysOf('v')).toEqual([kept]);
    expect(await keysOf('v_old')).toBeUndefined();
    // The visitor comes back: its key is written again (this instance forgot it had written the key).
    await stores.sessions.storeSessions([session({ websiteId: w, sessionId: 'back', visitorId: 'v_old', startedAt: '2026-11-02T10:00:00Z' })]);
    expect(await keysOf('v_old')).toHaveLength(1);
    const view = await stores.sessions.loadView(w, { sessionIds: [], visitorIds: ['v_old', 'v'], emailHashes: [], since: '2026-10-01T00:00:00.000Z' });
    expect(view.visitorSessionsBetween('v_old', '2026-01-01T00:00:00Z', '2026-12-31T00:00:00Z').map((s) => s.sessionId)).toEqual(['back']);
    expect(view.visitorSessionsBetween('v', '2026-01-01T00:00:00Z', '2026-12-31T00:00:00Z').map((s) => s.sessionId)).toEqual(['kept']);
  });
});

describe('session retention and free trials', () => {
  it('keeps the sessions trial starts name, pages past them, and deletes the rest', async () => {
    const w = uniqueId('w');
    const trialStart = (evt: string, sessionId: string) => toStoredPaymentFact(payment({
      websiteId: w, evt, at: '2000-01-01T10:00:00Z', amount: 0, kind: 'subscription_initial', refs: { checkoutSession: `cs_${evt}`, subscription: `sub_${evt}` }, signals: { sessionId },
    }));
    await stores.facts.insertIfAbsent([trialStart('evt_a', 'a_trial'), trialStart('evt_b', 'b_trial')]);
    // A paid one-time checkout naming a session: no reason to keep that session beyond the retention.
    await stores.facts.insertIfAbsent([toStoredPaymentFact(payment({ websiteId: w, evt: 'evt_p', at: '2000-01-01T10:00:00Z', amount: 900, refs: { paymentIntent: 'pi_p' }, signals: { sessionId: 'c_paid' } }))]);
    await stores.sessions.storeSessions(['a_trial', 'b_trial', 'c_paid', 'd_other'].map((sessionId) => session({ websiteId: w, sessionId, visitorId: 'v', startedAt: '2000-01-01T09:00:00Z' })));
    // Pages of one: the two kept sessions come first in _id order and must not stop the loop.
    const deleted = await stores.sessions.deleteSessionsLastSeenBefore(new Date('2001-01-01T00:00:00Z'), 1);
    expect(deleted.kept).toBeGreaterThanOrEqual(2);
    expect((await stores.sessions.sessions.find({ websiteId: w }).toArray()).map((d) => d.session.sessionId).sort()).toEqual(['a_trial', 'b_trial']);
    const view = await stores.sessions.loadView(w, { sessionIds: ['a_trial'], visitorIds: [], emailHashes: [], since: '1999-01-01T00:00:00.000Z' });
    expect(view.getSession('a_trial')?.sessionId).toBe('a_trial');
  });
});

describe('findByIds', () => {
  it('finds the same documents with point reads (few ids) and with one $in query (many)', async () => {
    const w = uniqueId('w');
    const n = POINT_READ_MAX + 3;
    await stores.sessions.storeSessions(Array.from({ length: n }, (_, i) => session({ websiteId: w, sessionId: `s${i}`, visitorId: 'v', startedAt: '2026-11-29T10:00:00Z' })));
    const all = Array.from({ length: n }, (_, i) => `${w}|s${i}`);
    const viaIn = await findByIds(stores.sessions.sessions, [...all, `${w}|missing`, `${w}|s1`]);
    expect(viaIn.map((d) => d._id).sort()).toEqual([...all].sort());
    const few = [all[0]!, all[1]!, `${w}|missing`, all[1]!];
    const viaPoints = await findByIds(stores.sessions.sessions, few);
    expect(viaPoints.map((d) => d._id).sort()).toEqual([all[0], all[1]].sort());
  });
});

describe('PaymentFactStore', () => {
  it('inserts facts once and finds them by any link key', async () => {
    const w = uniqueId('w');
    const facts = [
      payment({ websiteId: w, evt: 'evt_1', at: '2026-11-29T10:00:00Z', amount: 4900, refs: { paymentIntent: 'pi_1', charge: 'ch_1' } }),
      payment({ websiteId: w, evt: 'evt_2', at: '2026-11-29T10:00:00Z', amount: 4900, refs: { checkoutSession: 'cs_1', paymentIntent: 'pi_1' } }),
    ].map(toStoredPaymentFact);
    expect(await stores.facts.insertIfAbsent(facts)).toBe(2);
    expect(await stores.facts.insertIfAbsent([...facts, ...facts])).toBe(0);
    const found = await stores.facts.findByLinkKeys(w, ['stripe:ch_1']);
    expect(found).toEqual([facts[0]]);
    expect((await stores.facts.findByLinkKeys(w, ['stripe:pi_1'])).map((f) => f.factId).sort()).toEqual(['stripe:evt_1:0', 'stripe:evt_2:0']);
    expect(await stores.facts.findByLinkKeys(uniqueId('w'), ['stripe:pi_1'])).toEqual([]);
  });

  it('finds a fact stored by an earlier version under a key derived today, once a redelivery added that lookup key', async () => {
    const w = uniqueId('w');
    const trialStart = toStoredPaymentFact(payment({ websiteId: w, evt: 'evt_t', at: '2026-11-01T10:00:00Z', amount: 0, kind: 'subscription_initial', refs: { checkoutSession: 'cs_t', subscription: 'sub_t' } }));
    expect(trialStart.linkKeys).toContain('trial:stripe:sub_t');
    // As an earlier version stored it: without the trial key, and without its lookup entry.
    const old = { ...trialStart, linkKeys: trialStart.linkKeys.filter((k) => !k.startsWith('trial:')) };
    await stores.facts.collection.insertOne({ _id: factDocumentId(old), ...old });
    expect(await stores.facts.findByLinkKeys(w, ['trial:stripe:sub_t'])).toEqual([]);
    // The redelivered event: the fact stays as stored (no new insert), its lookup keys are today's.
    expect(await stores.facts.insertIfAbsent([trialStart])).toBe(0);
    expect(await stores.facts.findByLinkKeys(w, ['trial:stripe:sub_t'])).toEqual([trialStart]);
  });
});

describe('PaymentRecordStore', () => {
  it('writes with compare-and-set on version and reports every lost write as a conflict', async () => {
    const w = uniqueId('w');
    const [record] = recordsFor(w, [{ evt: 'evt_1', at: '2026-11-29T10:00:00Z', amount: 4900, refs: { paymentIntent: 'pi_1' } }]);
    expect(await stores.records.write([{ record: record!, expectedVersion: null }])).toEqual({ written: 1, conflicts: 0 });
    expect(await stores.records.write([{ record: record!, expectedVersion: null }])).toEqual({ written: 0, conflicts: 1 });
    const next = { ...record!, version: record!.version + 1 };
    expect(await stores.records.write([{ record: { ...next, version: 99 }, expectedVersion: 42 }])).toEqual({ written: 0, conflicts: 1 });
    expect(await stores.records.write([{ record: next, expectedVersion: record!.version }])).toEqual({ written: 1, conflicts: 0 });
    expect(await stores.records.findByKeys(w, ['stripe:pi_1'])).toEqual([next]);
  });

  it('answers load rounds by key and by subscription (merged records excluded), and finds upgrade candidates per website', async () => {
    const w = uniqueId('w');
    const other = uniqueId('w');
    const sub = { subscription: 'sub_1' };
    const records = recordsFor(w, [
      { evt: 'evt_1', at: '2026-11-29T10:00:00Z', amount: 900, refs: { invoice: 'in_1', ...sub }, signals: { visitorId: 'v1' } },
      { evt: 'evt_2', at: '2026-12-29T10:00:00Z', amount: 900, refs: { invoice: 'in_2', ...sub } },
      { evt: 'evt_3', at: '2026-11-29T10:00:00Z', amount: 4900, refs: { paymentIntent: 'pi_9' }, signals: { sessionId: 's9' } },
    ]);
    const otherRecords = recordsFor(other, [{ evt: 'evt_3', at: '2026-11-29T10:00:00Z', amount: 4900, refs: { paymentIntent: 'pi_9' }, signals: { sessionId: 's9' } }]);
    const merged: PaymentRecord = { ...records[2]!, paymentKey: 'stripe:pi_merged', upgrade: null, attributionBasis: null, state: { ...records[2]!.state, paymentKey: 'stripe:pi_merged', status: 'merged', subscriptionKey: 'stripe:sub_1', mergedInto: 'stripe:in_1', grossMinor: 0, refundedMinor: 0, netMinor: 0 } };
    await stores.records.write([...records, ...otherRecords, merged].map((record) => ({ record, expectedVersion: null })));

    const byKey = await stores.records.findForLoad({ websiteId: w, keys: ['stripe:in_1', 'stripe:pi_merged'], subscriptionKeys: [] });
    expect(byKey.map((r) => r.paymentKey).sort()).toEqual(['stripe:in_1', 'stripe:pi_merged']);
    const bySub = await stores.records.findForLoad({ websiteId: w, keys: [], subscriptionKeys: ['stripe:sub_1'] });
    expect(bySub.map((r) => r.paymentKey).sort()).toEqual(['stripe:in_1', 'stripe:in_2']);

    const pi9 = records.find((r) => r.paymentKey === 'stripe:pi_9')!;
    expect(pi9.upgrade?.keys).toContain('s:s9');
    const found = await stores.records.findUpgradeCandidates(new Map([[w, ['s:s9']]]), '2026-11-29T12:00:00.000Z');
    expect([...found.keys()]).toEqual([w]);
    expect(found.get(w)!.map((r) => r.paymentKey)).toEqual(['stripe:pi_9']);
    const late = await stores.records.findUpgradeCandidates(new Map([[w, ['s:s9']]]), '2027-06-01T00:00:00.000Z');
    expect(late.size).toBe(0); // past the horizon
  });
});

describe('LookupKeyStore and the backfill', () => {
  it('keeps the union when two writers add ids under the same new key at once', async () => {
    const w = uniqueId('w');
    for (let i = 0; i < 5; i += 1) {
      const a = new LookupKeyStore(db);
      const b = new LookupKeyStore(db);
      await Promise.all([
        a.add([{ kind: 'visitor-sessions', websiteId: w, key: `v${i}`, id: 's_a' }]),
        b.add([{ kind: 'visitor-sessions', websiteId: w, key: `v${i}`, id: 's_b' }, { kind: 'visitor-sessions', websiteId: w, key: `v${i}`, id: 's_a' }]),
      ]);
      const found = await a.lookup('visitor-sessions', w, [`v${i}`, 'nobody']);
      expect(found.get(`v${i}`)!.sort()).toEqual(['s_a', 's_b']);
      expect(found.has('nobody')).toBe(false);
    }
  });

  it('writes a key again once its memory of having written it is older than the trust window (another instance may have removed it)', async () => {
    const w = uniqueId('w');
    const entry = { kind: 'visitor-sessions' as const, websiteId: w, key: 'v', id: 's_1' };
    const writer = new LookupKeyStore(db, 1000, 50);
    const retention = new LookupKeyStore(db);
    await writer.add([entry]);
    expect(await retention.remove([entry])).toBe(1);
    await writer.add([entry]); // still trusted: no write (the cost of the cache)
    expect((await writer.lookup('visitor-sessions', w, ['v'])).has('v')).toBe(false);
    await new Promise((r) => setTimeout(r, 80));
    await writer.add([entry]);
    expect((await writer.lookup('visitor-sessions', w, ['v'])).get('v')).toEqual(['s_1']);
  });

  it('a database written without lookup keys gets them at start (backfill), and every load answers as before', async () => {
    const fresh = client.db(uniqueId('test_attribution_backfill'));
    try {
      const old = createStores(fresh);
      await ensureIndexes(old);
      const w = uniqueId('w');
      await old.sessions.storeSessions([
        session({ websiteId: w, sessionId: 's1', visitorId: 'v1', startedAt: '2026-11-28T10:00:00Z' }),
        session({ websiteId: w, sessionId: 's2', visitorId: 'v1', startedAt: '2026-11-27T10:00:00Z' }),
      ]);
      await old.sessions.storeIdentities([{ websiteId: w, emailHash: emailHashOf('ann'), visitorId: 'v1', at: '2026-11-28T10:01:00Z', learnedFrom: 'identify' }]);
      const records = recordsFor(w, [
        { evt: 'evt_1', at: '2026-11-29T10:00:00Z', amount: 900, refs: { invoice: 'in_1', subscription: 'sub_1' }, signals: { sessionId: 's9' } },
      ]);
      await old.records.write(records.map((record) => ({ record, expectedVersion: null })));
      await old.facts.insertIfAbsent([toStoredPaymentFact(payment({ websiteId: w, evt: 'evt_1', at: '2026-11-29T10:00:00Z', amount: 900, refs: { invoice: 'in_1', subscription: 'sub_1' } }))]);
      // As if these documents had been written before lookup keys existed:
      await old.lookups.collection.deleteMany({});

      const restarted = createStores(fresh);
      expect(await restarted.lookups.isReady()).toBe(false);
      await ensureIndexes(restarted);
      expect(await restarted.lookups.isReady()).toBe(true);
      const view = await restarted.sessions.loadView(w, { sessionIds: [], visitorIds: [], emailHashes: [emailHashOf('ann')], since: '2026-11-01T00:00:00.000Z' });
      expect(view.visitorsForEmail(emailHashOf('ann')).map((i) => i.visitorId)).toEqual(['v1']);
      expect(view.visitorSessionsBetween('v1', '2026-01-01T00:00:00Z', '2026-12-31T00:00:00Z').map((x) => x.sessionId).sort()).toEqual(['s1', 's2']);
      expect((await restarted.sessions.identitiesOfVisitors(new Map([[w, ['v1']]]))).get(w)?.map((i) => i.emailHash)).toEqual([emailHashOf('ann')]);
      expect((await restarted.records.findForLoad({ websiteId: w, keys: [], subscriptionKeys: ['stripe:sub_1'] })).map((r) => r.paymentKey)).toEqual(['stripe:in_1']);
      expect((await restarted.records.findUpgradeCandidates(new Map([[w, ['s:s9']]]), '2026-11-29T12:00:00.000Z')).get(w)?.map((r) => r.paymentKey)).toEqual(['stripe:in_1']);
      expect((await restarted.facts.findByLinkKeys(w, ['stripe:in_1'])).map((f) => f.event.source.eventId)).toEqual(['evt_1']);
      // Idempotent: running it again reads every document and changes no lookup key.
      const before = await restarted.lookups.collection.find({}).sort({ _id: 1 }).toArray();
      const stored = (await Promise.all([old.sessions.sessions, old.sessions.identities, old.facts.collection, old.records.collection].map((c) => c.countDocuments({})))).reduce((a, b) => a + b, 0);
      expect(await backfillLookupKeys(createStores(fresh))).toEqual({ documents: stored });
      expect(await restarted.lookups.collection.find({}).sort({ _id: 1 }).toArray()).toEqual(before);
    } finally {
      await fresh.dropDatabase();
    }
  });

  it('a database whose lookup keys predate trial keys gets the trial keys of its stored trial starts once, at start', async () => {
    const fresh = client.db(uniqueId('test_attribution_trial_keys'));
    try {
      const db = createStores(fresh);
      await ensureIndexes(db);
      const w = uniqueId('w');
      const trialStart = toStoredPaymentFact(payment({ websiteId: w, evt: 'evt_t', at: '2026-11-01T10:00:00Z', amount: 0, kind: 'subscription_initial', refs: { checkoutSession: 'cs_t', subscription: 'sub_t' }, signals: { sessionId: 's_t' } }));
      // Stored by the previous version: no trial key on the fact, none in the lookups, and the backfill marker
      // of that version only.
      const stale = { ...trialStart, linkKeys: trialStart.linkKeys.filter((k) => !k.startsWith('trial:')) };
      await db.facts.collection.insertOne({ _id: factDocumentId(stale), ...stale });
      await db.lookups.collection.deleteOne({ _id: FACT_KEYS_FROM_EVENTS_READY_ID });
      expect(await db.facts.findByLinkKeys(w, ['trial:stripe:sub_t'])).toEqual([]);

      expect((await ensureIndexes(createStores(fresh))).lookupKeysBackfilled).toMatchObject({ documents: 1 });
      expect(await db.facts.findByLinkKeys(w, ['trial:stripe:sub_t'])).toEqual([trialStart]);
      expect((await db.lookups.lookup('trial-sessions', w, ['s_t'])).get('s_t')).toEqual([factDocumentId(trialStart)]); // retention keeps s_t
      expect((await ensureIndexes(createStores(fresh))).lookupKeysBackfilled).toBeNull(); // once
    } finally {
      await fresh.dropDatabase();
    }
  });

  it('a lookup key that no longer applies (the record moved on) is skipped by the reader', async () => {
    const w = uniqueId('w');
    const [record] = recordsFor(w, [{ evt: 'evt_1', at: '2026-11-29T10:00:00Z', amount: 900, refs: { paymentIntent: 'pi_1' }, signals: { sessionId: 's1' } }]);
    await stores.records.write([{ record: record!, expectedVersion: null }]);
    expect((await stores.records.findUpgradeCandidates(new Map([[w, ['s:s1']]]), '2026-11-29T12:00:00.000Z')).get(w)).toHaveLength(1);
    await stores.records.write([{ record: { ...record!, upgrade: null, version: record!.version + 1 }, expectedVersion: record!.version }]);
    expect(await stores.lookups.collection.findOne({ _id: lookupDocumentId('record-upgrade', w, 's:s1') })).not.toBeNull();
    expect((await stores.records.findUpgradeCandidates(new Map([[w, ['s:s1']]]), '2026-11-29T12:00:00.000Z')).size).toBe(0);
  });
});

describe('AttributionProcessor outbox (real MongoDB, recording publisher)', () => {
  function processorWith(publisher: StatePublisher, now = '2026-11-29T13:00:00.000Z'): AttributionProcessor {
    return new AttributionProcessor({ stores, publisher, settings: DEFAULT_ATTRIBUTION_SETTINGS, logger: quietLogger, clock: () => new Date(now) });
  }
  // Each case starts like a fresh deployment: no sweep position stored by an earlier case.
  beforeEach(() => stores.records.sweep.deleteMany({}));

  it('a restarted process continues the sweep where the last completed window ended, not at the oldest record', async () => {
    const w = uniqueId('w');
    const published: PaymentState[] = [];
    const publish = async (states: readonly PaymentState[]) => void published.push(...states.filter((s) => s.websiteId === w));
    await processorWith({ publish }, '2026-11-29T13:00:00.000Z').sweepPendingPublishes(60_000);
    expect(await stores.records.sweptUntil()).toBe('2026-11-29T12:59:00.000Z');
    // Stuck records: one written long before that position (a full history walk would reach it), one just before it.
    const [old, recent] = recordsFor(w, [
      { evt: 'evt_1', at: '2026-11-29T10:00:00Z', amount: 100, refs: { paymentIntent: 'pi_old' } },
      { evt: 'evt_2', at: '2026-11-29T10:00:00Z', amount: 200, refs: { paymentIntent: 'pi_recent' } },
    ]);
    await stores.records.write([
      { record: { ...old!, pendingPublish: 1, state: { ...old!.state, updatedAt: '2026-11-28T10:00:00.000Z' } }, expectedVersion: null },
      { record: { ...recent!, pendingPublish: 1, state: { ...recent!.state, updatedAt: '2026-11-29T12:58:30.000Z' } }, expectedVersion: null },
    ]);
    await processorWith({ publish }, '2026-11-29T13:10:00.000Z').sweepPendingPublishes(60_000);
    expect(published.map((s) => s.paymentKey)).toEqual(['stripe:pi_recent']);
    expect(await stores.records.sweptUntil()).toBe('2026-11-29T13:09:00.000Z');
    // An instance finishing an older window never moves the shared position back.
    await stores.records.recordSweptUntil('2026-11-29T12:00:00.000Z');
    expect(await stores.records.sweptUntil()).toBe('2026-11-29T13:09:00.000Z');
    await stores.records.collection.deleteMany({ websiteId: w }); // the deliberately skipped record would stay stuck for the next cases
  });

  it('the sweep produces records left unpublished by a crash and confirms them; fresh ones are left to their writer', async () => {
    const w = uniqueId('w');
    const records = recordsFor(w, [
      { evt: 'evt_1', at: '2026-11-29T10:00:00Z', amount: 4900, refs: { paymentIntent: 'pi_1' } },
      { evt: 'evt_2', at: '2026-11-29T10:00:00Z', amount: 1500, refs: { paymentIntent: 'pi_2' } },
    ]);
    // As the payment path leaves them when it dies between the write and the produce.
    const pending = records.map((r, i) => ({ ...r, pendingPublish: r.state.revision, state: { ...r.state, updatedAt: i === 0 ? '2026-11-29T12:00:00.000Z' : '2026-11-29T12:59:50.000Z' } }));
    await stores.records.write(pending.map((record) => ({ record, expectedVersion: null })));
    const published: PaymentState[] = [];
    const processor = processorWith({ publish: async (states) => void published.push(...states) });

    expect(await processor.sweepPendingPublishes(60_000)).toBe(1);
    expect(published.map((s) => s.paymentKey)).toEqual(['stripe:pi_1']);
    const [swept, fresh] = await stores.records.findByKeys(w, ['stripe:pi_1', 'stripe:pi_2']).then((rs) => rs.sort((a, b) => (a.paymentKey < b.paymentKey ? -1 : 1)));
    expect(swept!.pendingPublish).toBeNull();
    expect(fresh!.pendingPublish).toBe(fresh!.state.revision);
    // Confirmed by an inserted "published revision", not by rewriting the record...
    expect((await stores.records.collection.findOne({ paymentKey: 'stripe:pi_1', websiteId: w }))!.pendingPublish).toBe(1);
    // ...and a new process's first sweep (which looks at everything) finds nothing left to produce.
    expect(await processorWith({ publish: async (states) => void published.push(...states) }).sweepPendingPublishes(60_000)).toBe(0);
    expect(published).toHaveLength(1);
  });

  it('pages past a full page of records written at one instant, and reaches a stuck record written after them', async () => {
    const w = uniqueId('w');
    const sameInstant = '2026-11-29T11:00:00.000Z';
    const records = recordsFor(w, Array.from({ length: 7 }, (_, i) => ({ evt: `evt_${i}`, at: '2026-11-29T10:00:00Z', amount: 100 + i, refs: { paymentIntent: `pi_${i}` } })));
    // Six written (and produced) by one batch at one instant; the seventh left unpublished by a crash, later.
    const written = records.map((r, i) => ({ ...r, pendingPublish: r.state.revision, state: { ...r.state, updatedAt: i < 6 ? sameInstant : '2026-11-29T11:30:00.000Z' } }));
    await stores.records.write(written.map((record) => ({ record, expectedVersion: null })));
    await stores.records.markPublished(written.slice(0, 6).map((r) => r.state), new Date(sameInstant));
    const published: PaymentState[] = [];
    const processor = processorWith({ publish: async (states) => void published.push(...states.filter((s) => s.websiteId === w)) });
    // (The sweep covers the whole database: other tests' records may come along; only this website's count.)
    for (let run = 0; run < 10 && published.length === 0; run += 1) await processor.sweepPendingPublishes(60_000, 4);
    expect(published.map((s) => s.paymentKey)).toEqual(['stripe:pi_6']);
  });

  it('keeps its window while Kafka refuses, so a stuck record is produced once Kafka is back, however long it was down', async () => {
    const w = uniqueId('w');
    const [record] = recordsFor(w, [{ evt: 'evt_1', at: '2026-11-29T10:00:00Z', amount: 4900, refs: { paymentIntent: 'pi_1' } }]);
    await stores.records.write([{ record: { ...record!, pendingPublish: 1, state: { ...record!.state, updatedAt: '2026-11-29T12:00:00.000Z' } }, expectedVersion: null }]);
    let now = Date.parse('2026-11-29T13:00:00.000Z');
    let kafkaUp = false;
    const published: PaymentState[] = [];
    const processor = new AttributionProcessor({
      stores, settings: DEFAULT_ATTRIBUTION_SETTINGS, logger: quietLogger, clock: () => new Date(now),
      publisher: { publish: async (states) => { if (!kafkaUp) throw new KafkaUnavailableError('broker down'); published.push(...states.filter((s) => s.websiteId === w)); } },
    });
    for (let minute = 0; minute < 3; minute += 1) {
      await expect(processor.sweepPendingPublishes(60_000)).rejects.toBeInstanceOf(KafkaUnavailableError);
      now += 10 * 60_000; // a long outage: far beyond the sweep's overlap window
    }
    kafkaUp = true;
    await processor.sweepPendingPublishes(60_000);
    expect(published.map((s) => s.paymentKey)).toEqual(['stripe:pi_1']);
  });

  it('heartbeats between the websites of one batch, and starts no further website after one failed', async () => {
    const websites = [uniqueId('w'), uniqueId('w'), uniqueId('w')];
    const records = websites.map((websiteId, i) => ({
      topic: TOPICS.payments.name, partition: 0, offset: String(i), key: websiteId, timestamp: '0', headers: {}, traceparent: undefined,
      value: payment({ websiteId, evt: `evt_${i}`, at: '2026-11-29T10:00:00Z', amount: 1000 + i, refs: { paymentIntent: `pi_${i}` } }),
    }));
    let heartbeats = 0;
    const heartbeat = async () => void (heartbeats += 1);
    const ok = new AttributionProcessor({ stores, settings: DEFAULT_ATTRIBUTION_SETTINGS, logger: quietLogger, websiteConcurrency: 1, publisher: { publish: async () => undefined } });
    await ok.handleBatch({ topic: TOPICS.payments.name, partition: 0, records, heartbeat });
    expect(heartbeats).toBeGreaterThanOrEqual(websites.length);

    const attempts: string[] = [];
    const failing = new AttributionProcessor({
      stores, settings: DEFAULT_ATTRIBUTION_SETTINGS, logger: quietLogger, websiteConcurrency: 1,
      publisher: { publish: async (states) => { attempts.push(...states.map((s) => s.websiteId)); throw new KafkaUnavailableError('broker down'); } },
    });
    const again = records.map((r, i) => ({ ...r, value: payment({ websiteId: websites[i]!, evt: `evt_r${i}`, at: '2026-11-29T11:00:00Z', amount: 5, refs: { paymentIntent: `pi_r${i}` } }) }));
    await expect(failing.handleBatch({ topic: TOPICS.payments.name, partition: 0, records: again, heartbeat })).rejects.toBeInstanceOf(KafkaUnavailableError);
    expect(new Set(attempts).size).toBe(1); // the first website failed; the other two were not started
  });

  it('produces a newer revision again when it was written while an older one was being produced', async () => {
    const w = uniqueId('w');
    const [record] = recordsFor(w, [{ evt: 'evt_1', at: '2026-11-29T10:00:00Z', amount: 4900, refs: { paymentIntent: 'pi_1' } }]);
    const stuck = { ...record!, pendingPublish: 1, state: { ...record!.state, updatedAt: '2026-11-29T12:00:00.000Z' } };
    await stores.records.write([{ record: stuck, expectedVersion: null }]);
    const newer: PaymentRecord = { ...stuck, version: stuck.version + 1, pendingPublish: 2, state: { ...stuck.state, revision: 2, refundedMinor: 900, netMinor: 4000, status: 'partially_refunded' } };
    const published: PaymentState[] = [];
    const processor = processorWith({
      publish: async (states) => {
        published.push(...states);
        // Another instance writes (and produces) revision 2 while revision 1 is on its way.
        if (published.length === 1) await stores.records.write([{ record: newer, expectedVersion: stuck.version }]);
      },
    });
    await processor.sweepPendingPublishes(60_000);
    expect(published.map((s) => s.revision)).toEqual([1, 2]); // the topic ends on the highest revision
    expect(published[1]).toEqual(newer.state);
    expect(processor.stats().newerRevisionsRepublished).toBe(1);
  });
});
