import { generateKeyringEntry, parseKeyring } from '@metrivo/crypto';
import type { IntegrationDoc } from './documents';
import { liveSecrets, openSecrets, rollSecrets } from './integrations';

const ring = parseKeyring(generateKeyringEntry('k1'));
const t0 = new Date('2026-11-29T10:00:00Z');
const hours = (h: number) => new Date(t0.getTime() + h * 3600_000);
const base: IntegrationDoc = { _id: 'int_1', websiteId: 'w_1', provider: 'stripe', status: 'active', secrets: [], createdAt: t0, updatedAt: t0 };

describe('secret rolls', () => {
  it('keeps the previous secret valid for the chosen hours, then only the new one', () => {
    const first = { ...base, secrets: rollSecrets(base, 'whsec_old1', ring, t0, 0) };
    const rolled = { ...first, secrets: rollSecrets(first, 'whsec_new2', ring, hours(1), 24) };
    expect(openSecrets(rolled, ring, hours(2))).toEqual(['whsec_new2', 'whsec_old1']);
    expect(openSecrets(rolled, ring, hours(25.5))).toEqual(['whsec_new2']);
    expect(rolled.secrets.map((s) => s.last4)).toEqual(['new2', 'old1']);
    expect(JSON.stringify(rolled)).not.toContain('whsec_');
  });
  it('drops the previous secret at once without keepPreviousForHours, and prunes expired ones', () => {
    const a = { ...base, secrets: rollSecrets(base, 'whsec_aaaa', ring, t0, 0) };
    const b = { ...a, secrets: rollSecrets(a, 'whsec_bbbb', ring, t0, 0) };
    expect(openSecrets(b, ring, t0)).toEqual(['whsec_bbbb']);
    const c = { ...b, secrets: rollSecrets(b, 'whsec_cccc', ring, hours(1), 2) };
    const d = { ...c, secrets: rollSecrets(c, 'whsec_dddd', ring, hours(5), 1) };
    expect(liveSecrets(d, hours(5)).map((s) => s.last4)).toEqual(['dddd', 'cccc']);
    expect(d.secrets).toHaveLength(2);
  });
  it('retires every earlier secret with 0, also one still inside an earlier roll window (a leaked secret)', () => {
    const a = { ...base, secrets: rollSecrets(base, 'whsec_aaaa', ring, t0, 0) };
    const b = { ...a, secrets: rollSecrets(a, 'whsec_bbbb', ring, t0, 24) };
    expect(openSecrets(b, ring, hours(1))).toEqual(['whsec_bbbb', 'whsec_aaaa']);
    const c = { ...b, secrets: rollSecrets(b, 'whsec_cccc', ring, hours(1), 0) };
    expect(openSecrets(c, ring, hours(1))).toEqual(['whsec_cccc']);
    expect(c.secrets).toHaveLength(1);
  });
  it('never lengthens an earlier window, and shortens it to the new one', () => {
    const a = { ...base, secrets: rollSecrets(base, 'whsec_aaaa', ring, t0, 0) };
    const b = { ...a, secrets: rollSecrets(a, 'whsec_bbbb', ring, t0, 24) }; // aaaa until hour 24
    const longer = { ...b, secrets: rollSecrets(b, 'whsec_cccc', ring, hours(1), 48) };
    expect(longer.secrets.map((s) => [s.last4, s.expiresAt])).toEqual([['cccc', null], ['bbbb', hours(49)], ['aaaa', hours(24)]]);
    const shorter = { ...b, secrets: rollSecrets(b, 'whsec_cccc', ring, hours(1), 2) };
    expect(shorter.secrets.map((s) => [s.last4, s.expiresAt])).toEqual([['cccc', null], ['bbbb', hours(3)], ['aaaa', hours(3)]]);
  });
  it('will not open a sealed secret copied onto another integration', () => {
    const a = { ...base, secrets: rollSecrets(base, 'whsec_aaaa', ring, t0, 0) };
    expect(() => openSecrets({ ...a, _id: 'int_2' }, ring, t0)).toThrow();
  });
});
