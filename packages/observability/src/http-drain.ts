import type { IncomingMessage, Server, ServerResponse } from 'node:http';

type WarnLogger = { warn(obj: object, msg: string): void };

export interface HttpDrainOptions {
  /** Told when connections still open are cut at the end of the drain. */
  logger?: WarnLogger;
  /**
   * Time kept for the shutdown steps after this one (producer and log flushes, client closes): remaining
   * connections are cut this long before the deadline. Capped at half the time left. Default 5000.
   */
  reserveMs?: number;
  /** How often idle connections are looked for while draining (a fallback: each response's end does it too). Default 100. */
  pollMs?: number;
}

export interface HttpDrain {
  /**
   * Stops accepting connections, lets the requests in flight finish, and resolves once every connection is
   * closed: at the latest `timeLeftMs - reserve` from now (then the connections still open are cut).
   */
  close(timeLeftMs: number): Promise<void>;
  isDraining(): boolean;
}

/**
 * Graceful close for an HTTP/1.1 server with keep-alive. `server.close()` alone waits for every kept-alive
 * connection to time out (the gateway keeps them 65 s, past the shutdown deadline), and a request that arrives on
 * such a connection after close() is still served and keeps it open. While draining, every response not yet
 * started is sent with `Connection: close` (Node then closes its socket after it), requests that arrive on old
 * connections are answered the same way, connections that go idle are closed at once, and whatever is left is cut
 * shortly before the deadline so that the later shutdown steps still run.
 *
 * Call it right after the server is created (before requests arrive): it tracks the responses in flight from then.
 */
export function drainableHttpServer(server: Server, options: HttpDrainOptions = {}): HttpDrain {
  const { logger, reserveMs = 5000, pollMs = 100 } = options;
  const inFlight = new Set<ServerResponse>();
  let closing: Promise<void> | null = null;

  const closeAfter = (res: ServerResponse) => {
    // A response whose headers are out (a stream) cannot say so any more: its connection is closed once idle.
    if (!res.headersSent) res.setHeader('connection', 'close');
  };
  // Prepended, so that it runs before the app's handler, which may answer synchronously.
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    inFlight.add(res);
    if (closing) closeAfter(res);
    res.once('close', () => {
      inFlight.delete(res);
      // After the response's own end handling: only then does its connection count as idle.
      if (closing) setImmediate(() => server.closeIdleConnections());
    });
  });

  return {
    isDraining: () => closing !== null,
    close(timeLeftMs: number): Promise<void> {
      if (closing) return closing;
      for (const res of inFlight) closeAfter(res);
      const forceAfterMs = Math.max(0, timeLeftMs - Math.min(reserveMs, timeLeftMs / 2));
      closing = new Promise<void>((resolve) => {
        const poll = setInterval(() => server.closeIdleConnections(), pollMs);
        const force = setTimeout(() => {
          logger?.warn({ requestsInFlight: inFlight.size, afterMs: Math.round(forceAfterMs) }, 'HTTP drain: cutting the connections still open so that the rest of the shutdown runs');
          server.closeAllConnections();
        }, forceAfterMs);
        // The callback also runs (with an error) when the server was not listening: nothing left to wait for.
        server.close(() => {
          clearInterval(poll);
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
