import { createHmac } from 'node:crypto';
import { constantTimeEqual, decryptSecret, encryptSecret, generateApiKey, generateKeyringEntry, hashApiKey, hashEmail, keyringProblem, maskEmail, parseKeyring } from './index';

describe('hashEmail', () => {
  it('is the hex HMAC-SHA256 of the trimmed, lower-cased email', () => {
    const expected = createHmac('sha256', 'k').update('jane@example.com').digest('hex');
    expect(hashEmail('  Jane@Example.COM ', 'k')).toBe(expected);
    expect(hashEmail('jane@example.com', 'other')).not.toBe(expected);
  });
});

describe('maskEmail', () => {
  it('keeps the first letter and the domain', () => {
    expect(maskEmail('Jane.Doe@Example.com')).toBe('j***@example.com');
    expect(maskEmail('not-an-email')).toBeNull();
    expect(maskEmail('@x.com')).toBeNull();
  });
});

describe('secret encryption', () => {
  const ring = parseKeyring(`${generateKeyringEntry('k2')},${generateKeyringEntry('k1')}`);
  it('round-trips and names the active key', () => {
    const sealed = encryptSecret('whsec_abc123', ring, 'int_1');
    expect(sealed.kid).toBe('k2');
    expect(JSON.stringify(sealed)).not.toContain('whsec_abc123');
    expect(decryptSecret(sealed, ring, 'int_1')).toBe('whsec_abc123');
  });
  it('refuses a ciphertext moved to another record', () => {
    const sealed = encryptSecret('whsec_abc123', ring, 'int_1');
    expect(() => decryptSecret(sealed, ring, 'int_2')).toThrow();
  });
  it('reads secrets sealed with an older key after rotation', () => {
    const oldRing = parseKeyring(generateKeyringEntry('k0'));
    const sealed = encryptSecret('s', oldRing, 'a');
    const rotated = parseKeyring(`${generateKeyringEntry('k9')},k0:${oldRing.keys.get('k0')!.toString('base64')}`);
    expect(decryptSecret(sealed, rotated, 'a')).toBe('s');
    expect(() => decryptSecret(sealed, ring, 'a')).toThrow(/k0/);
  });
  it('rejects malformed keyrings with a readable message', () => {
    expect(() => parseKeyring('')).toThrow(/empty/);
    expect(() => parseKeyring('k1:c2hvcnQ=')).toThrow(/32 bytes/);
    expect(() => parseKeyring('nokey')).toThrow(/keyId:base64Key/);
  });
  it('never quotes a key or key id in its errors (an operator may have swapped them)', () => {
    const key = generateKeyringEntry('k1').slice(3);
    const cases: Array<[string, RegExp]> = [
      [`k1:${key},${key}:dev1`, /^entry 2 of 2: the key after ":" must be 32 bytes of base64/],
      [`${key}`, /^entry 1 of 1 must look like "keyId:base64Key"/],
      [`k1:${key},k1:${key}`, /^entry 2 of 2 has the same key id as entry 1$/],
      [`secretid:${key.slice(0, 20)}`, /^entry 1 of 1: the key after ":" must be 32 bytes/],
    ];
    for (const [spec, expected] of cases) {
      const message = keyringProblem(spec)!;
      expect(message).toMatch(expected);
      for (const text of [key, key.slice(0, 8), key.slice(-8), 'dev1', 'secretid']) expect(message).not.toContain(text);
    }
    expect(keyringProblem(`k1:${key}`)).toBeNull();
  });
});

describe('api keys', () => {
  it('are random, prefixed by mode, and hashed deterministically', () => {
    const a = generateApiKey(true);
    const b = generateApiKey(false);
    expect(a).toMatch(/^mtv_live_[A-Za-z0-9_-]{43}$/);
    expect(b).toMatch(/^mtv_test_/);
    expect(hashApiKey(a)).toBe(hashApiKey(a));
    expect(hashApiKey(a)).not.toBe(hashApiKey(b));
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'ab')).toBe(false);
  });
});
