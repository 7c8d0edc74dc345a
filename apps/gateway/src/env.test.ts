import { generateKeyringEntry } from '@metrivo/crypto';
import { loadGatewayConfig } from './env';

describe('gateway configuration', () => {
  const base = { METRIVO_EMAIL_HASH_KEY: 'e'.repeat(16), METRIVO_SECRET_KEYS: generateKeyringEntry('k1') };

  it('loads a valid keyring', () => {
    expect(loadGatewayConfig(base).METRIVO_SECRET_KEYS).toBe(base.METRIVO_SECRET_KEYS);
  });

  it('validates METRIVO_SECRET_KEYS as a keyring and names it, without printing the key', () => {
    const key = generateKeyringEntry('k2').slice(3);
    const spec = `${base.METRIVO_SECRET_KEYS},${key}:dev2`; // second entry with key and id swapped
    expect(() => loadGatewayConfig({ ...base, METRIVO_SECRET_KEYS: spec })).toThrow(/METRIVO_SECRET_KEYS: entry 2 of 2: the key after ":" must be 32 bytes/);
    let message = '';
    try {
      loadGatewayConfig({ ...base, METRIVO_SECRET_KEYS: spec });
    } catch (err) {
      message = (err as Error).message;
    }
    for (const part of [key.slice(0, 8), key.slice(8, 16), 'dev2', base.METRIVO_SECRET_KEYS.slice(3, 11)]) expect(message).not.toContain(part);
  });
});
