import { createServer, type Server } from 'node:http';
import { healthzHandler, readyzHandler, type HealthOptions } from '@metrivo/observability';

export interface AttributionHttpOptions {
  health: HealthOptions;
  /** The body of GET /metrics (JSON). */
  metrics: () => unknown;
}

/** Attribution has no public API: liveness, readiness and JSON metrics only. */
export function createAttributionServer(options: AttributionHttpOptions): Server {
  const healthz = healthzHandler();
  const readyz = readyzHandler(options.health);
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'application/json; charset=utf-8', allow: 'GET, HEAD' });
      res.end(JSON.stringify({ error: { code: 'method_not_allowed', message: 'Only GET is supported here.' } }));
      return;
    }
    if (path === '/healthz') return healthz(req, res);
    if (path === '/readyz') return readyz(req, res);
    if (path === '/metrics') {
      let body: string;
      try {
        body = JSON.stringify(options.metrics());
      } catch (err) {
        res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ error: { code: 'metrics_failed', message: err instanceof Error ? err.message : String(err) } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify({ error: { code: 'not_found', message: `No route for ${path}.` } }));
  });
}
