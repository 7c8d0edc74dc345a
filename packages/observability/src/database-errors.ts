/** Driver errors that mean the server cannot be reached or is not serving right now (failover, shutdown, network). */
const UNREACHABLE = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoPoolClearedError',
  'MongoPoolClosedError',
  'MongoServerSelectionError',
  'MongoServerClosedError',
  'MongoTopologyClosedError',
  'MongoNotConnectedError',
  'MongoWaitQueueTimeoutError',
  'MongoOperationTimeoutError',
]);

/**
 * Server answers that mean "not now" (a primary stepping down, a node shutting down or recovering): the retryable
 * read error codes of the MongoDB retryable-reads specification.
 */
const NOT_NOW_CODES = new Set([6, 7, 89, 91, 134, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436]);

/**
 * MongoDB is unavailable, not the request or our code wrong: the HTTP apps answer 503 `unavailable` with Retry-After
 * (the provider, caller or balancer retries; the gateway may answer from a cached integration). Other driver errors
 * (a bad query, a duplicate key, authentication) are bugs or configuration and stay 500s. By name, not `instanceof`: names are the
 * driver's public contract and survive two copies of the driver in node_modules.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (UNREACHABLE.has(err.name)) return true;
  const code = (err as { code?: unknown }).code;
  return err.name === 'MongoServerError' && typeof code === 'number' && NOT_NOW_CODES.has(code);
}
