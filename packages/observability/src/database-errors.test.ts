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

  it('other errors are not', () => {
    for (const err of [driverError('MongoInvalidArgumentError'), driverError('MongoParseError'), new TypeError('x is undefined'), 'MongoNetworkError', null]) {
      expect(isDatabaseUnavailable(err)).toBe(false);
    }
  });
});
