import type { IncomingMessage, ServerResponse } from 'node:http';

export type ReadinessCheck = () => Promise<void> | void;

export interface HealthOptions {
  /** Named dependencies; each throws (or rejects) when not reachable. */
  checks: Record<string, ReadinessCheck>;
  /** Readiness turns false first when shutting down, before anything closes. */
  isShuttingDown: () => boolean;
  /** Per-check deadline. */
  timeoutMs?: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('cache-control', 'no-store');
  res.end(JSON.stringify(body));
}

async function withTimeout(check: ReadinessCheck, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(check),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every check; `ready` only when all pass and the process is not shutting down. */
export async function readiness(options: HealthOptions): Promise<{ ready: boolean; checks: Record<string, string> }> {
  const results: Record<string, string> = {};
  await Promise.all(
    Object.entries(options.checks).map(async ([name, check]) => {
      try {
        await withTimeout(check, options.timeoutMs ?? 2000);
        results[name] = 'ok';
      } catch (err) {
        results[name] = `failing: ${err instanceof Error ? err.message : String(err)}`;
      }
    }),
  );
  const shuttingDown = options.isShuttingDown();
  if (shuttingDown) results.process = 'shutting down';
  const ready = !shuttingDown && Object.values(results).every((r) => r === 'ok');
  return { ready, checks: results };
}

/** `GET /healthz`: the process is alive and serving. */
export function healthzHandler(): Handler {
  return (_req, res) => sendJson(res, 200, { status: 'ok' });
}

/**
 * `GET /readyz`: 200 when every dependency answers, else 503 with which one fails. The 503 body also has the
 * `{"error":{"code","message"}}` shape every error body has (DESIGN §4), next to `status` and `checks`.
 */
export function readyzHandler(options: HealthOptions): Handler {
  return (_req, res) => {
    void readiness(options).then(({ ready, checks }) => {
      if (ready) return sendJson(res, 200, { status: 'ready', checks });
      const failing = Object.entries(checks).filter(([, result]) => result !== 'ok').map(([name, result]) => `${name}: ${result}`);
      sendJson(res, 503, { error: { code: 'not_ready', message: `Not ready (${failing.join('; ')}).` }, status: 'not_ready', checks });
    });
  };
}
