import { meter, observeMetrics, type MeterProvider } from '@metrivo/observability';
import type { DeliveryInput, DeliveryRecorder } from './delivery-recorder';

/** What the request metrics need of an attempt (a delivery-log row has it; a 401 has only this). */
export type AttemptFigures = Pick<DeliveryInput, 'provider' | 'outcome' | 'httpStatus' | 'errorCode' | 'durationMs'>;

/** Milliseconds: the accept path is a Kafka round trip (a few ms to tens), the 503 deadline is seconds. */
const DURATION_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];

/**
 * Every webhook and Manual API attempt as OpenTelemetry metrics, from the same record the delivery log gets:
 * `metrivo.gateway.requests` (counter) and `metrivo.gateway.request.duration` (histogram, ms), both by provider
 * (`manual` for the Manual API), outcome (accepted, ignored, duplicate, rejected, unavailable), HTTP status and error
 * code. Alert on `unavailable` (Kafka or MongoDB trouble: providers are retrying) and on a jump of `rejected` with
 * `invalid_signature` (a rolled secret not set in admin). Without an exporter these are no-op calls.
 */
export function requestMetrics(provider?: MeterProvider): (attempt: AttemptFigures) => void {
  const m = meter('@metrivo/gateway', provider);
  const requests = m.createCounter('metrivo.gateway.requests', { description: 'Webhook and Manual API attempts, by provider, outcome, status and error code', unit: '{request}' });
  const duration = m.createHistogram('metrivo.gateway.request.duration', {
    description: 'Time from receipt to answer of webhook and Manual API attempts',
    unit: 'ms',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS_MS },
  });
  return (attempt) => {
    const attributes = {
      'metrivo.provider': attempt.provider,
      'metrivo.outcome': attempt.outcome,
      'http.response.status_code': attempt.httpStatus,
      ...(attempt.errorCode ? { 'error.type': attempt.errorCode } : {}),
    };
    requests.add(1, attributes);
    duration.record(attempt.durationMs, attributes);
  };
}

/** The delivery log's write-behind queue: records waiting, and records lost (queue overflow, refused by MongoDB). */
export function observeDeliveryLog(recorder: Pick<DeliveryRecorder, 'stats'>, provider?: MeterProvider): void {
  observeMetrics(
    '@metrivo/gateway',
    [
      { name: 'metrivo.gateway.delivery_log.queued', description: 'Delivery-log records waiting to be written (grows while MongoDB is down)', unit: '{record}', kind: 'gauge', observe: () => recorder.stats().queued },
      { name: 'metrivo.gateway.delivery_log.dropped', description: 'Delivery-log records lost: queue overflow while MongoDB was down, or refused by MongoDB', unit: '{record}', kind: 'counter', observe: () => recorder.stats().dropped + recorder.stats().refused },
    ],
    { meterProvider: provider },
  );
}
