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
 * Node socket errors. The driver does not always wrap them: a command written to a connection the server (or a
 * proxy, a failover) has just closed rejects with Node's own `Error: This socket has been ended by the other party`
 * (code EPIPE, from Connection.writeCommand) — seen in the ledger's MongoDB-outage test as a 500.
 */
const SOCKET_CODES = new Set(['EPIPE', 'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * MongoDB is unavailable, not the request or our code wrong: the HTTP apps answer 503 `unavailable` with Retry-After
 * (the provider, caller or balancer retries; the gateway may answer from a cached integration). Other driver errors
 * (a bad query, a duplicate key, authentication) are bugs or configuration and stay 500s. By name, not `instanceof`: names are the
 * driver's public contract and survive two copies of the driver in node_modules.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  // Looks through `cause` (a few levels): wrappers keep the driver's or the socket's error there. Duck-typed, not
  // `instanceof Error`: errors made by Node itself belong to another realm under jest's sandbox.
  for (let e = err as { name?: unknown; code?: unknown; cause?: unknown } | null, depth = 0; typeof e === 'object' && e !== null && depth < 5; e = e.cause as typeof e, depth += 1) {
    if (typeof e.name !== 'string') return false;
    if (UNREACHABLE.has(e.name)) return true;
    const code = e.code;
    if (e.name === 'MongoServerError' && typeof code === 'number' && NOT_NOW_CODES.has(code)) return true;
    if (typeof code === 'string' && SOCKET_CODES.has(code)) return true;
  }
  return false;
}
