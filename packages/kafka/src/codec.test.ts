import { ContractViolation, TOPICS } from '@metrivo/contracts';
import { decodeValue, encodeValue, parseJsonBytes, schemaForTopic } from './codec';
import { InvalidJsonValueError } from './errors';

const sessions = TOPICS.visitorSessions;
const session = {
  schemaVersion: 1,
  type: 'session',
  websiteId: 'w_1',
  visitorId: 'v_9',
  sessionId: 's_3',
  startedAt: '2026-11-29T10:00:00.000Z',
  lastSeenAt: '2026-11-29T10:07:12.000Z',
  referrer: 'https://www.google.com/',
};
const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('schemaForTopic', () => {
  it('uses the catalog, lets overrides replace or switch off validation, and knows nothing of other topics', () => {
    expect(schemaForTopic(sessions.name)).toBe(sessions.schema);
    expect(schemaForTopic('metrivo.visitor-sessions.v1.dlq')).toBeNull();
    expect(schemaForTopic('test.topic', { 'test.topic': sessions.schema })).toBe(sessions.schema);
    expect(schemaForTopic(sessions.name, { [sessions.name]: null })).toBeNull();
  });
});

describe('parseJsonBytes', () => {
  it('rejects null, invalid UTF-8 and invalid JSON with a reason', () => {
    expect(parseJsonBytes(null)).toEqual({ ok: false, error: 'record has no value (null)' });
    expect(parseJsonBytes(Buffer.from([0x7b, 0xff, 0x7d]))).toEqual({ ok: false, error: 'value is not valid UTF-8' });
    const bad = parseJsonBytes(Buffer.from('{"a":'));
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error).toMatch(/^value is not valid JSON: /);
    expect(parseJsonBytes(Buffer.from('{"a":"ü"}'))).toEqual({ ok: true, value: { a: 'ü' } });
  });
});

describe('decodeValue', () => {
  it('returns the validated value', () => {
    const r = decodeValue(sessions.name, bytes(session), sessions.schema);
    expect(r).toEqual({ ok: true, value: session });
  });

  it('classifies bad JSON as invalid_json', () => {
    const r = decodeValue(sessions.name, Buffer.from('not json'), sessions.schema);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toBe('invalid_json');
  });

  it('classifies contract failures as schema_validation, naming the failing fields', () => {
    const r = decodeValue(sessions.name, bytes({ ...session, visitorId: '', startedAt: 'yesterday' }), sessions.schema);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe('schema_validation');
    expect(r.error).toContain('visitorId');
    expect(r.error).toContain('startedAt');
    expect(r.violation).toBeInstanceOf(ContractViolation);
  });

  it('accepts any JSON on topics without a schema', () => {
    expect(decodeValue('x', Buffer.from('[1,2]'), null)).toEqual({ ok: true, value: [1, 2] });
  });
});

describe('encodeValue', () => {
  it('serializes the validated object as UTF-8 JSON', () => {
    const r = encodeValue(sessions.name, session, sessions.schema);
    expect(r.ok && JSON.parse(r.bytes!.toString('utf8'))).toEqual(session);
  });

  it('drops fields the contract does not know (the wire holds exactly the contract)', () => {
    const r = encodeValue(sessions.name, { ...session, password: 'x' }, sessions.schema);
    expect(r.ok && JSON.parse(r.bytes!.toString('utf8'))).toEqual(session);
  });

  it('refuses an object that breaks the contract with a ContractViolation', () => {
    const r = encodeValue(sessions.name, { ...session, websiteId: '' }, sessions.schema);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toBeInstanceOf(ContractViolation);
    expect(!r.ok && r.error.message).toContain('websiteId');
  });

  it('checks bytes too, and passes valid bytes through untouched', () => {
    const raw = Buffer.from(JSON.stringify(session, null, 2));
    const ok = encodeValue(sessions.name, raw, sessions.schema);
    expect(ok.ok && ok.bytes).toBe(raw);
    const notJson = encodeValue(sessions.name, Buffer.from('{'), sessions.schema);
    expect(!notJson.ok && notJson.error).toBeInstanceOf(InvalidJsonValueError);
    const invalid = encodeValue(sessions.name, bytes({ ...session, type: 'other' }), sessions.schema);
    expect(!invalid.ok && invalid.error).toBeInstanceOf(ContractViolation);
  });

  it('passes bytes and null through on topics without a schema', () => {
    const raw = Buffer.from('not json at all');
    expect(encodeValue('x.dlq', raw, null)).toEqual({ ok: true, bytes: raw });
    expect(encodeValue('x.dlq', null, null)).toEqual({ ok: true, bytes: null });
    expect(encodeValue('x', undefined, null).ok).toBe(false);
  });
});
