import { createHmac } from 'node:crypto';
import { constantTimeEqual, decryptSecret, encryptSecret, generateApiKey, generateKeyringEntry, hashApiKey, hashEmail, keyringProblem, lastFour, looksLikeEmail, maskEmail, parseKeyring } from './index';

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

describe('lastFour', () => {
  it('shows the last 4 characters only of secrets of 24 UTF-8 bytes or more', () => {
    expect(lastFour('x'.repeat(20) + 'abcd')).toBe('abcd');
    expect(lastFour('x'.repeat(19) + 'abcd')).toBeNull();
    expect(lastFour('Ab3-Qx9Z')).toBeNull(); // a merchant-chosen 8-character Razorpay secret: nothing of it
    expect(lastFour('é'.repeat(12))).toBe('éééé'); // bytes, like the ciphertext length shownLast4 reads
  });
});

describe('maskEmail edge cases', () => {
  it('masks up to the last @ and refuses an empty domain', () => {
    expect(maskEmail('a@b@example.com')).toBe('a***@example.com');
    expect(maskEmail('jane@')).toBeNull();
  });
  it('looksLikeEmail wants a dot in the domain and no spaces', () => {
    expect(looksLikeEmail(' jane@example.com ')).toBe(true);
    expect(looksLikeEmail('jane@localhost')).toBe(false);
    expect(looksLikeEmail('ja ne@example.com')).toBe(false);
  });
});

describe('sealing details', () => {
  const ring = parseKeyring(generateKeyringEntry('k1'));
  it('uses a fresh IV for every seal (AES-GCM must never reuse one under a key)', () => {
    const a = encryptSecret('same', ring, 'int_1');
    const b = encryptSecret('same', ring, 'int_1');
    expect(a.iv).not.toBe(b.iv);
    expect(a.ct).not.toBe(b.ct);
    expect(Buffer.from(a.iv, 'base64')).toHaveLength(12);
  });
  it('refuses an entry with an empty key id and a key of other than 32 bytes', () => {
    const key = generateKeyringEntry('k').slice(2);
    expect(keyringProblem(`:${key}`)).toMatch(/^entry 1 of 1 must look like "keyId:base64Key"/);
    expect(keyringProblem(`k1:${Buffer.alloc(16, 1).toString('base64')}`)).toMatch(/32 bytes of base64 \(got 16 bytes\)/);
    expect(keyringProblem(`k1:${Buffer.alloc(33, 1).toString('base64')}`)).toMatch(/got 33 bytes/);
  });
});
