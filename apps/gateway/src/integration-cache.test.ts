import { generateKeyringEntry, parseKeyring } from '@metrivo/crypto';
import { rollSecrets, type IntegrationDoc } from '@metrivo/integration-store';
import { IntegrationCache } from './integration-cache';

const ring = parseKeyring(generateKeyringEntry('k1'));
const t0 = new Date('2026-11-29T10:00:00Z');
const at = (ms: number) => new Date(t0.getTime() + ms);

function storeWith(doc: IntegrationDoc | null) {
  const calls: string[] = [];
  let current = doc;
  return {
    calls,
    set(d: IntegrationDoc | null) { current = d; },
    get: async (id: string) => { calls.push(id); await new Promise((r) => setTimeout(r, 5)); return current; },
  };
}

describe('IntegrationCache', () => {
  const base: IntegrationDoc = { _id: 'int_1', websiteId: 'w_1', provider: 'stripe', status: 'active', secrets: [], createdAt: t0, updatedAt: t0 };
  const first = { ...base, secrets: rollSecrets(base, 'whsec_old', ring, t0, 0) };
  const rolled = { ...first, secrets: rollSecrets(first, 'whsec_new', ring, t0, 1) }; // old kept 1 h

  it('shares one lookup between concurrent misses and serves hits from memory', async () => {
    const store = storeWith(rolled);
    const cache = new IntegrationCache(store, ring, { ttlMs: 60_000, maxStaleMs: 0 });
    const [a, b] = await Promise.all([cache.get('int_1', t0), cache.get('int_1', t0)]);
    expect(a?.secrets).toEqual(['whsec_new', 'whsec_old']);
    expect(b?.secrets).toEqual(['whsec_new', 'whsec_old']);
    await cache.get('int_1', at(1000));
    expect(store.calls).toHaveLength(1);
  });

  it('drops a rolled secret when its window closes, without reloading', async () => {
    const store = storeWith(rolled);
    const cache = new IntegrationCache(store, ring, { ttlMs: 10 * 3600_000, maxStaleMs: 0 });
    await cache.get('int_1', t0);
    expect((await cache.get('int_1', at(3600_000 + 1)))?.secrets).toEqual(['whsec_new']);
    expect(store.calls).toHaveLength(1);
  });

  it('sees admin changes after the TTL, including unknown → created', async () => {
    const store = storeWith(null);
    const cache = new IntegrationCache(store, ring, { ttlMs: 0, maxStaleMs: 0 });
    expect(await cache.get('int_1', t0)).toBeNull();
    store.set({ ...first, status: 'disabled' });
    expect((await cache.get('int_1', t0))?.doc.status).toBe('disabled');
    expect(store.calls).toHaveLength(2);
  });

  it('keeps at most maxEntries, evicting the least recently loaded (a reload of a cached id evicts nothing)', async () => {
    const calls: string[] = [];
    const store = { get: async (id: string) => { calls.push(id); return { ...first, _id: id }; } };
    const cache = new IntegrationCache(store, ring, { ttlMs: 1000, maxStaleMs: 0, maxEntries: 2 });
    await cache.get('a', t0);
    await cache.get('b', at(10));
    await cache.get('a', at(1200)); // expired: reloaded, now the most recent
    await cache.get('b', at(1300)); // expired too
    expect(cache.size).toBe(2);
    await cache.get('a', at(1400)); // still cached: no query
    await cache.get('c', at(1500)); // evicts a (loaded at 1200, before b at 1300)
    await cache.get('b', at(1600)); // still cached
    expect(calls).toEqual(['a', 'b', 'a', 'b', 'c']);
    await cache.get('a', at(1700));
    expect(calls.at(-1)).toBe('a');
    expect(cache.size).toBe(2);
  });

  describe('past the TTL: one request reloads; the copy answers while MongoDB is slow or failing', () => {
    /** A store whose answers wait until released, so requests can arrive while a reload is in flight. */
    function gatedStore(doc: IntegrationDoc | null) {
      let current: IntegrationDoc | null = doc;
      let failNext = false;
      let failure: Error | undefined;
      const waiting: Array<() => void> = [];
      const store = {
        calls: 0,
        set(d: IntegrationDoc | null) { current = d; },
        failNextLoad(err?: Error) { failNext = true; failure = err; },
        release() { for (const go of waiting.splice(0)) go(); },
        get: async () => {
          store.calls += 1;
          await new Promise<void>((r) => waiting.push(r));
          if (failNext) {
            failNext = false;
            throw failure ?? Object.assign(new Error('server selection timed out'), { name: 'MongoServerSelectionError' });
          }
          return current;
        },
      };
      return store;
    }
    /** A cache over `store` (TTL 1 s) that loaded its copy at t0, and the first answer. */
    async function loadedAtT0(store: ReturnType<typeof gatedStore>, maxStaleMs: number, onStaleAnswer?: (id: string, err: unknown, ageMs: number) => void, ttlMs = 1000) {
      const cache = new IntegrationCache(store, ring, { ttlMs, maxStaleMs, ...(onStaleAnswer ? { onStaleAnswer } : {}) });
      const answer = cache.get('int_1', t0);
      store.release();
      return { cache, answer: await answer };
    }
    const settledWithin = async <T>(p: Promise<T>): Promise<T | 'pending'> =>
      Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), 20))]);

    it('the reloading request waits and sees the change; others meanwhile get the copy at once', async () => {
      const store = gatedStore(first);
      const { cache, answer: warm } = await loadedAtT0(store, 5000);
      expect(warm?.secrets).toEqual(['whsec_old']);
      store.set(rolled); // admin rolls the secret

      const reloading = cache.get('int_1', at(1500));
      const meanwhile = await settledWithin(cache.get('int_1', at(1600)));
      expect(meanwhile).not.toBe('pending');
      expect(meanwhile === 'pending' ? null : meanwhile?.secrets).toEqual(['whsec_old']);
      expect(await settledWithin(reloading)).toBe('pending');
      store.release();
      expect((await reloading)?.secrets).toEqual(['whsec_new', 'whsec_old']);
      expect((await cache.get('int_1', at(1700)))?.secrets).toEqual(['whsec_new', 'whsec_old']);
      expect(store.calls).toBe(2);
    });

    it('waits for the reload once the copy is older than the TTL plus maxStaleMs, and for an unknown id', async () => {
      const store = gatedStore(first);
      const { cache } = await loadedAtT0(store, 500);
      store.set({ ...first, status: 'disabled' });
      const reloading = cache.get('int_1', at(1500)); // copy 1.5 s old: past TTL + maxStale
      const meanwhile = cache.get('int_1', at(1500));
      expect(await settledWithin(meanwhile)).toBe('pending');
      store.release();
      expect((await reloading)?.doc.status).toBe('disabled');
      expect((await meanwhile)?.doc.status).toBe('disabled');

      const unknown = gatedStore(null);
      const { cache: cache2, answer: miss } = await loadedAtT0(unknown, 60_000);
      expect(miss).toBeNull();
      unknown.set(first); // created in admin
      const reload = cache2.get('int_1', at(1500));
      const during = cache2.get('int_1', at(1500));
      expect(await settledWithin(during)).toBe('pending');
      unknown.release();
      expect((await reload)?.doc._id).toBe('int_1');
      expect((await during)?.doc._id).toBe('int_1');
    });

    it('MongoDB failing: the request that waited gets the copy (reported), so do the others for one TTL, then MongoDB is tried again', async () => {
      const stale: Array<[string, string, number]> = [];
      const store = gatedStore(first);
      const { cache } = await loadedAtT0(store, 60_000, (id, err, ageMs) => stale.push([id, (err as Error).message, ageMs]));
      store.failNextLoad();
      const reloading = cache.get('int_1', at(1500));
      expect((await cache.get('int_1', at(1600)))?.secrets).toEqual(['whsec_old']);
      store.release();
      expect((await reloading)?.secrets).toEqual(['whsec_old']);
      expect(stale).toEqual([['int_1', 'server selection timed out', 1500]]);

      store.set(rolled);
      expect((await cache.get('int_1', at(2400)))?.secrets).toEqual(['whsec_old']); // within a TTL of the failure
      expect(store.calls).toBe(2);
      const again = cache.get('int_1', at(2600)); // a TTL later: reloads and waits
      expect(await settledWithin(again)).toBe('pending');
      store.release();
      expect((await again)?.secrets).toEqual(['whsec_new', 'whsec_old']);
      expect(store.calls).toBe(3);
      expect(stale).toHaveLength(1);
    });

    it('MongoDB failing slowly (past a TTL): the next TTL without retries is counted from the failure', async () => {
      const store = gatedStore(first);
      const { cache } = await loadedAtT0(store, 60_000, undefined, 50);
      store.failNextLoad();
      const reloading = cache.get('int_1', at(100));
      await new Promise((r) => setTimeout(r, 120)); // the driver's server selection timeout, longer than the TTL
      store.release();
      expect((await reloading)?.secrets).toEqual(['whsec_old']);
      // 100 ms after the reload started but well within a TTL of its failure: the copy, no new query
      expect(await settledWithin(cache.get('int_1', at(200)))).toMatchObject({ secrets: ['whsec_old'] });
      expect(store.calls).toBe(2);
    });

    it('only "MongoDB unavailable" falls back to the copy: any other failure fails the request', async () => {
      const store = gatedStore(first);
      const { cache } = await loadedAtT0(store, 60_000);
      store.failNextLoad(new TypeError("Cannot read properties of undefined (reading 'secrets')"));
      const reloading = cache.get('int_1', at(1500));
      store.release();
      await expect(reloading).rejects.toThrow(TypeError);
    });

    it('MongoDB failing: a copy older than the TTL plus maxStaleMs, or none (unknown id), fails with it', async () => {
      const store = gatedStore(first);
      const { cache } = await loadedAtT0(store, 500);
      store.failNextLoad();
      const tooOld = cache.get('int_1', at(1500));
      store.release();
      await expect(tooOld).rejects.toThrow('server selection timed out');

      const unknown = gatedStore(null);
      unknown.failNextLoad();
      const cache2 = new IntegrationCache(unknown, ring, { ttlMs: 1000, maxStaleMs: 60_000 });
      const miss = cache2.get('int_2', t0);
      unknown.release();
      await expect(miss).rejects.toThrow('server selection timed out');
      expect(cache2.size).toBe(0); // junk ids posted while MongoDB is down leave nothing behind
      const retried = cache2.get('int_2', t0); // no copy to fall back on: every request asks MongoDB
      unknown.release();
      expect(await retried).toBeNull();
      expect(unknown.calls).toBe(2);
      expect(cache2.size).toBe(1); // a known absence is cached like an integration
    });
  });

  describe('after a key rotation (keyring without the old key)', () => {
    const [k1, k2] = [generateKeyringEntry('k1'), generateKeyringEntry('k2')];
    const oldRing = parseKeyring(k1);
    const bothRing = parseKeyring(`${k2},${k1}`); // during the rotation
    const newRing = parseKeyring(k2); // k1 retired
    const underOld = { ...base, secrets: rollSecrets(base, 'whsec_old', oldRing, t0, 0) };
    // whsec_new under k2, whsec_old left under k1 for `keepHours` (a roll re-seals what it keeps, so build it by hand).
    const rolledKeepingOld = (keepHours: number) => ({
      ...underOld,
      secrets: [rollSecrets(underOld, 'whsec_new', bothRing, t0, 0)[0]!, ...rollSecrets(underOld, 'whsec_unused', oldRing, t0, keepHours).slice(1)],
    });

    it('skips an expired secret sealed with the retired key without decrypting it', async () => {
      const rolled = rolledKeepingOld(1); // old expires at t0 + 1 h
      const cache = new IntegrationCache(storeWith(rolled), newRing, { ttlMs: 0, maxStaleMs: 0 });
      expect(await cache.get('int_1', at(2 * 3600_000))).toMatchObject({ secrets: ['whsec_new'], unreadable: [] });
    });

    it('reports a secret that still verifies but cannot be opened, and keeps the others', async () => {
      const rolled = rolledKeepingOld(1);
      const cache = new IntegrationCache(storeWith(rolled), newRing, { ttlMs: 60_000, maxStaleMs: 0 });
      expect(await cache.get('int_1', t0)).toMatchObject({ secrets: ['whsec_new'], unreadable: [{ keyId: 'k1', reason: 'key_missing' }] });
      // The roll window closes: the unreadable one stops mattering without a reload.
      expect(await cache.get('int_1', at(3600_000 + 1))).toMatchObject({ secrets: ['whsec_new'], unreadable: [] });
    });
  });
});
