import { isDatabaseUnavailable } from './database-errors';

const driverError = (name: string, code?: number) => Object.assign(new Error(`${name} happened`), { name }, code === undefined ? {} : { code });

describe('isDatabaseUnavailable', () => {
  it.each(['MongoServerSelectionError', 'MongoNetworkError', 'MongoNetworkTimeoutError', 'MongoPoolClearedError', 'MongoNotConnectedError', 'MongoWaitQueueTimeoutError'])(
    '%s: unavailable',
    (name) => expect(isDatabaseUnavailable(driverError(name))).toBe(true),
  );

  it('a server answer is unavailable only for the retryable "not now" codes', () => {
    expect(isDatabaseUnavailable(driverError('MongoServerError', 10107))).toBe(true); // NotWritablePrimary (failover)
    expect(isDatabaseUnavailable(driverError('MongoServerError', 91))).toBe(true); // ShutdownInProgress
    expect(isDatabaseUnavailable(driverError('MongoServerError', 11000))).toBe(false); // duplicate key
    expect(isDatabaseUnavailable(driverError('MongoServerError', 18))).toBe(false); // AuthenticationFailed
    expect(isDatabaseUnavailable(driverError('MongoServerError'))).toBe(false);
  });

  it("Node socket errors the driver lets through unwrapped (EPIPE on a connection the server just closed), also as a cause", () => {
    const epipe = Object.assign(new Error('This socket has been ended by the other party'), { code: 'EPIPE' });
    expect(isDatabaseUnavailable(epipe)).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isDatabaseUnavailable(new Error('lookup failed', { cause: epipe }))).toBe(true);
    expect(isDatabaseUnavailable(new Error('wrapped', { cause: driverError('MongoNetworkError') }))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('no such file'), { code: 'ENOENT' }))).toBe(false);
  });

  it('other errors are not', () => {
    for (const err of [driverError('MongoInvalidArgumentError'), driverError('MongoParseError'), new TypeError('x is undefined'), 'MongoNetworkError', null]) {
      expect(isDatabaseUnavailable(err)).toBe(false);
    }
  });
});
