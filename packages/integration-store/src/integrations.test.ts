import { generateKeyringEntry, parseKeyring } from '@metrivo/crypto';
import type { IntegrationDoc } from './documents';
import { liveSecrets, openSecrets, shownLast4, openSecretsWithExpiry, resealSecrets, rollSecrets, secretsWithMissingKey } from './integrations';

const ring = parseKeyring(generateKeyringEntry('k1'));
const t0 = new Date('2026-11-29T10:00:00Z');
const hours = (h: number) => new Date(t0.getTime() + h * 3600_000);
const base: IntegrationDoc = { _id: 'int_1', websiteId: 'w_1', provider: 'stripe', status: 'active', secrets: [], createdAt: t0, updatedAt: t0 };

describe('secret rolls', () => {
  it('keeps the previous secret valid for the chosen hours, then only the new one', () => {
    const first = { ...base, secrets: rollSecrets(base, 'whsec_0123456789abcdef_old1', ring, t0, 0) };
    const rolled = { ...first, secrets: rollSecrets(first, 'whsec_0123456789abcdef_new2', ring, hours(1), 24) };
    expect(openSecrets(rolled, ring, hours(2))).toEqual(['whsec_0123456789abcdef_new2', 'whsec_0123456789abcdef_old1']);
    expect(openSecrets(rolled, ring, hours(25.5))).toEqual(['whsec_0123456789abcdef_new2']);
    expect(openSecrets(rolled, ring, hours(25))).toEqual(['whsec_0123456789abcdef_new2']); // not at the instant its window closes
    expect(rolled.secrets.map((s) => s.last4)).toEqual(['new2', 'old1']);
    expect(JSON.stringify(rolled)).not.toContain('whsec_');
  });
  it('drops the previous secret at once without keepPreviousForHours, and prunes expired ones', () => {
    const a = { ...base, secrets: rollSecrets(base, 'whsec_0123456789abcdef_aaaa', ring, t0, 0) };
    const b = { ...a, secrets: rollSecrets(a, 'whsec_0123456789abcdef_bbbb', ring, t0, 0) };
    expect(openSecrets(b, ring, t0)).toEqual(['whsec_0123456789abcdef_bbbb']);
    const c = { ...b, secrets: rollSecrets(b, 'whsec_0123456789abcdef_cccc', ring, hours(1), 2) };
    const d = { ...c, secrets: rollSecrets(c, 'whsec_0123456789abcdef_dddd', ring, hours(5), 1) };
    expect(liveSecrets(d, hours(5)).map((s) => s.last4)).toEqual(['dddd', 'cccc']);
    expect(d.secrets).toHaveLength(2);
  });
  it('retires every earlier secret with 0, also one still inside an earlier roll window (a leaked secret)', () => {
    const a = { ...base, secrets: rollSecrets(base, 'whsec_0123456789abcdef_aaaa', ring, t0, 0) };
    const b = { ...a, secrets: rollSecrets(a, 'whsec_0123456789abcdef_bbbb', ring, t0, 24) };
    expect(openSecrets(b, ring, hours(1))).toEqual(['whsec_0123456789abcdef_bbbb', 'whsec_0123456789abcdef_aaaa']);
    const c = { ...b, secrets: rollSecrets(b, 'whsec_0123456789abcdef_cccc', ring, hours(1), 0) };
    expect(openSecrets(c, ring, hours(1))).toEqual(['whsec_0123456789abcdef_cccc']);
    expect(c.secrets).toHaveLength(1);
  });
  it('never lengthens an earlier window, and shortens it to the new one', () => {
    const a = { ...base, secrets: rollSecrets(base, 'whsec_0123456789abcdef_aaaa', ring, t0, 0) };
    const b = { ...a, secrets: rollSecrets(a, 'whsec_0123456789abcdef_bbbb', ring, t0, 24) }; // aaaa until hour 24
    const longer = { ...b, secrets: rollSecrets(b, 'whsec_0123456789abcdef_cccc', ring, hours(1), 48) };
    expect(longer.secrets.map((s) => [s.last4, s.expiresAt])).toEqual([['cccc', null], ['bbbb', hours(49)], ['aaaa', hours(24)]]);
    const shorter = { ...b, secrets: rollSecrets(b, 'whsec_0123456789abcdef_cccc', ring, hours(1), 2) };
    expect(shorter.secrets.map((s) => [s.last4, s.expiresAt])).toEqual([['cccc', null], ['bbbb', hours(3)], ['aaaa', hours(3)]]);
  });
  it('will not open a sealed secret copied onto another integration', () => {
    const a = { ...base, secrets: rollSecrets(base, 'whsec_0123456789abcdef_aaaa', ring, t0, 0) };
    expect(() => openSecrets({ ...a, _id: 'int_2' }, ring, t0)).toThrow();
  });
});

describe('last4', () => {
  it('is kept only for secrets of 24 characters or more; one stored earlier is hidden by its ciphertext length', () => {
    const short = rollSecrets(base, 'Ab3-Qx9Z', ring, t0, 0)[0]!;
    expect(short.last4).toBeNull();
    expect(shownLast4(short)).toBeNull();
    const long = rollSecrets(base, 'x'.repeat(20) + 'abcd', ring, t0, 0)[0]!;
    expect(long.last4).toBe('abcd');
    expect(shownLast4(long)).toBe('abcd');
    expect(shownLast4({ ...short, last4: 'Qx9Z' })).toBeNull(); // written before the rule
  });
});

describe('key rotation', () => {
  const [k1, k2] = [generateKeyringEntry('k1'), generateKeyringEntry('k2')];
  const oldRing = parseKeyring(k1);
  const bothRing = parseKeyring(`${k2},${k1}`);
  const newRing = parseKeyring(k2);
  // Two rolls: whsec_aaaa and whsec_bbbb sealed under k1, then whsec_cccc under k2 while both keys are configured.
  const a = { ...base, secrets: rollSecrets(base, 'whsec_0123456789abcdef_aaaa', oldRing, t0, 0) };
  const b = { ...a, secrets: rollSecrets(a, 'whsec_0123456789abcdef_bbbb', oldRing, t0, 1) }; // aaaa verifies until hour 1
  // Then whsec_cccc under k2, its earlier secrets left under k1 (as a gateway-era write before re-sealing left them).
  const d = {
    ...b,
    secrets: [rollSecrets(base, 'whsec_0123456789abcdef_cccc', bothRing, t0, 0)[0]!, ...rollSecrets(b, 'whsec_unused', oldRing, t0, 24).slice(1)], // bbbb until hour 24
  };
  const afterA = hours(2);

  it('a roll re-seals the secrets it keeps under the active key (a write racing `secrets reseal` cannot bring k1 back)', () => {
    const rolled = { ...b, secrets: rollSecrets(b, 'whsec_0123456789abcdef_cccc', bothRing, t0, 24) };
    expect(rolled.secrets.map((s) => [s.last4, s.sealed.kid])).toEqual([['cccc', 'k2'], ['bbbb', 'k2'], ['aaaa', 'k2']]);
    expect(openSecrets(rolled, newRing, t0)).toEqual(['whsec_0123456789abcdef_cccc', 'whsec_0123456789abcdef_bbbb', 'whsec_0123456789abcdef_aaaa']);
    // A secret the keyring cannot open is kept as it is (and keeps its window).
    const stuck = rollSecrets(b, 'whsec_0123456789abcdef_dddd', parseKeyring(k2), t0, 24);
    expect(stuck.map((s) => [s.last4, s.sealed.kid])).toEqual([['dddd', 'k2'], ['bbbb', 'k1'], ['aaaa', 'k1']]);
  });

  it('opens only the secrets that still verify, and reports (does not throw for) one whose key is gone', () => {
    expect(d.secrets.map((s) => [s.last4, s.sealed.kid])).toEqual([['cccc', 'k2'], ['bbbb', 'k1'], ['aaaa', 'k1']]);
    expect(openSecretsWithExpiry(d, newRing, afterA)).toEqual({
      secrets: [{ secret: 'whsec_0123456789abcdef_cccc', expiresAt: null }],
      unreadable: [{ keyId: 'k1', reason: 'key_missing', expiresAt: hours(24) }],
    });
    expect(openSecretsWithExpiry(d, newRing, hours(25))).toEqual({ secrets: [{ secret: 'whsec_0123456789abcdef_cccc', expiresAt: null }], unreadable: [] });
    expect(openSecretsWithExpiry({ ...d, _id: 'int_2' }, newRing, hours(25)).unreadable).toEqual([{ keyId: 'k2', reason: 'decrypt_failed', expiresAt: null }]);
    expect(secretsWithMissingKey(d, newRing, afterA).map((s) => s.last4)).toEqual(['bbbb']);
    expect(secretsWithMissingKey(d, bothRing, afterA)).toEqual([]);
  });

  it('re-seals what still verifies under the active key, drops expired ones, keeps what it cannot open', () => {
    const r = resealSecrets(d, bothRing, afterA);
    expect({ resealed: r.resealed, pruned: r.pruned, unreadable: r.unreadable }).toEqual({ resealed: 1, pruned: 1, unreadable: [] });
    expect(r.secrets.map((s) => [s.last4, s.sealed.kid, s.expiresAt])).toEqual([['cccc', 'k2', null], ['bbbb', 'k2', hours(24)]]);
    expect(r.secrets[0]).toBe(d.secrets[0]); // already under the active key: untouched
    const resealed = { ...d, secrets: r.secrets };
    expect(openSecrets(resealed, newRing, afterA)).toEqual(['whsec_0123456789abcdef_cccc', 'whsec_0123456789abcdef_bbbb']);

    const stuck = resealSecrets(d, newRing, afterA);
    expect(stuck.resealed).toBe(0);
    expect(stuck.unreadable).toEqual([{ keyId: 'k1', reason: 'key_missing', expiresAt: hours(24) }]);
    expect(stuck.secrets.map((s) => s.sealed.kid)).toEqual(['k2', 'k1']);
  });
});
