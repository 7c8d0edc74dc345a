import type { Db } from 'mongodb';
import { MIN_PASSWORD_LENGTH, passwordProblem, verifyPassword } from './passwords';
import { SessionStore, sessionIdOf, type SessionDoc } from './session-store';
import { staffAllowsSession } from './staff-store';

describe('staffAllowsSession', () => {
  it('allows only an enabled account whose credentialsVersion is the one the session was created under', () => {
    expect(staffAllowsSession({ disabledAt: null, credentialsVersion: 2 }, 2)).toBe(true);
    expect(staffAllowsSession({ disabledAt: null }, undefined)).toBe(true); // older account and session: both 0
    expect(staffAllowsSession({ disabledAt: null }, 0)).toBe(true);
    expect(staffAllowsSession(null, 0)).toBe(false);
    expect(staffAllowsSession({ disabledAt: new Date(), credentialsVersion: 0 }, 0)).toBe(false);
    expect(staffAllowsSession({ disabledAt: null, credentialsVersion: 1 }, 0)).toBe(false); // password changed since
    expect(staffAllowsSession({ disabledAt: null, credentialsVersion: 1 }, undefined)).toBe(false);
    expect(staffAllowsSession({ disabledAt: null, credentialsVersion: 1 }, 2)).toBe(false); // not "at least": equal
  });
});

describe('SessionStore', () => {
  function storeWith(doc: SessionDoc | null) {
    const queries: unknown[] = [];
    const inserted: SessionDoc[] = [];
    const collection = {
      findOne: async (filter: unknown) => {
        queries.push(filter);
        return doc;
      },
      insertOne: async (d: SessionDoc) => {
        inserted.push(d);
      },
    };
    const db = { collection: () => collection } as unknown as Db;
    return { store: new SessionStore(db, 3600_000), queries, inserted };
  }
  const now = new Date('2026-11-29T10:00:00Z');
  const token = 'A'.repeat(43);
  const doc = (expiresAt: Date): SessionDoc => ({ _id: sessionIdOf(token), staffId: 's', email: 'e', name: 'n', createdAt: now, expiresAt, credentialsVersion: 0 });

  it('does not even look up a cookie value that is not 32 base64url bytes', async () => {
    const { store, queries } = storeWith(doc(new Date(now.getTime() + 1000)));
    for (const bad of ['', 'A'.repeat(42), 'A'.repeat(44), `${'A'.repeat(42)}=`, `${'A'.repeat(42)}.`]) expect(await store.find(bad, now)).toBeNull();
    expect(queries).toEqual([]);
    expect(await store.find(token, now)).not.toBeNull();
    expect(queries).toEqual([{ _id: sessionIdOf(token) }]);
  });

  it('refuses an expired session, from its expiry instant on', async () => {
    expect(await storeWith(doc(new Date(now.getTime() + 1))).store.find(token, now)).not.toBeNull();
    expect(await storeWith(doc(now)).store.find(token, now)).toBeNull();
    expect(await storeWith(doc(new Date(now.getTime() - 1000))).store.find(token, now)).toBeNull();
  });

  it('binds a new session to the credentialsVersion the login read, and stores only the token hash', async () => {
    const { store, inserted } = storeWith(null);
    const { token: issued, doc: created } = await store.create({ _id: 'staff_1', email: 'a@example.com', name: 'A', credentialsVersion: 3 }, now);
    expect(created.credentialsVersion).toBe(3);
    expect(created.expiresAt).toEqual(new Date(now.getTime() + 3600_000));
    expect(inserted[0]!._id).toBe(sessionIdOf(issued));
    expect(JSON.stringify(inserted)).not.toContain(issued);
    expect((await store.create({ _id: 'staff_2', email: 'b@example.com', name: 'B' }, now)).doc.credentialsVersion).toBe(0);
  });
});

describe('passwords', () => {
  it('requires 12 to 1024 characters that are not only spaces', () => {
    expect(MIN_PASSWORD_LENGTH).toBe(12);
    expect(passwordProblem('a'.repeat(11))).toMatch(/at least 12/);
    expect(passwordProblem('a'.repeat(12))).toBeNull();
    expect(passwordProblem(' '.repeat(12))).toBe('must not be only spaces');
    expect(passwordProblem('a'.repeat(1025))).toMatch(/at most 1024/);
  });

  it('never authenticates against a malformed stored hash', async () => {
    await expect(verifyPassword('not-a-phc-string', 'whatever-password')).resolves.toBe(false);
    await expect(verifyPassword('', '')).resolves.toBe(false);
  });
});
