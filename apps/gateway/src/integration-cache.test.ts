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
    const cache = new IntegrationCache(store, ring, 60_000);
    const [a, b] = await Promise.all([cache.get('int_1', t0), cache.get('int_1', t0)]);
    expect(a?.secrets).toEqual(['whsec_new', 'whsec_old']);
    expect(b?.secrets).toEqual(['whsec_new', 'whsec_old']);
    await cache.get('int_1', at(1000));
    expect(store.calls).toHaveLength(1);
  });

  it('drops a rolled secret when its window closes, without reloading', async () => {
    const store = storeWith(rolled);
    const cache = new IntegrationCache(store, ring, 10 * 3600_000);
    await cache.get('int_1', t0);
    expect((await cache.get('int_1', at(3600_000 + 1)))?.secrets).toEqual(['whsec_new']);
    expect(store.calls).toHaveLength(1);
  });

  it('sees admin changes after the TTL, including unknown → created', async () => {
    const store = storeWith(null);
    const cache = new IntegrationCache(store, ring, 0);
    expect(await cache.get('int_1', t0)).toBeNull();
    store.set({ ...first, status: 'disabled' });
    expect((await cache.get('int_1', t0))?.doc.status).toBe('disabled');
    expect(store.calls).toHaveLength(2);
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
      const cache = new IntegrationCache(storeWith(rolled), newRing, 0);
      expect(await cache.get('int_1', at(2 * 3600_000))).toMatchObject({ secrets: ['whsec_new'], unreadable: [] });
    });

    it('reports a secret that still verifies but cannot be opened, and keeps the others', async () => {
      const rolled = rolledKeepingOld(1);
      const cache = new IntegrationCache(storeWith(rolled), newRing, 60_000);
      expect(await cache.get('int_1', t0)).toMatchObject({ secrets: ['whsec_new'], unreadable: [{ keyId: 'k1', reason: 'key_missing' }] });
      // The roll window closes: the unreadable one stops mattering without a reload.
      expect(await cache.get('int_1', at(3600_000 + 1))).toMatchObject({ secrets: ['whsec_new'], unreadable: [] });
    });
  });
});
