import { errorAnswer } from './errors';

const driverError = (name: string, code?: number) => Object.assign(new Error(`${name} happened`), { name }, code === undefined ? {} : { code });

describe('errorAnswer', () => {
  it('MongoDB unreachable → 503 unavailable with Retry-After, logged as a database error', () => {
    for (const err of [driverError('MongoServerSelectionError'), driverError('MongoNetworkError'), driverError('MongoServerError', 10107)]) {
      expect(errorAnswer(err)).toEqual({ status: 503, code: 'unavailable', message: 'The database is unavailable; try again shortly.', retryAfterSeconds: 5, kind: 'database' });
    }
  });

  it('other driver errors are bugs: 500 internal_error, no Retry-After (a duplicate key was a 503 "database unavailable")', () => {
    for (const err of [driverError('MongoServerError', 11000), driverError('MongoInvalidArgumentError'), new TypeError('x is undefined')]) {
      expect(errorAnswer(err)).toEqual({ status: 500, code: 'internal_error', message: 'Unexpected error; it has been logged.', kind: 'bug' });
    }
  });

  it('client errors keep their codes', () => {
    expect(errorAnswer(Object.assign(new Error('bad token'), { code: 'csrf_invalid' }))).toMatchObject({ status: 403, code: 'csrf_invalid', kind: 'csrf' });
    expect(errorAnswer(Object.assign(new Error('x'), { type: 'entity.parse.failed', status: 400 }))).toMatchObject({ status: 400, code: 'invalid_json' });
    expect(errorAnswer(Object.assign(new Error('x'), { type: 'entity.too.large', status: 413 }))).toMatchObject({ status: 413, code: 'payload_too_large' });
    expect(errorAnswer(Object.assign(new URIError('URI malformed'), { status: 400 }))).toMatchObject({ status: 400, code: 'bad_request', message: 'URI malformed' });
    expect(errorAnswer(null)).toMatchObject({ status: 500, kind: 'bug' });
  });
});
