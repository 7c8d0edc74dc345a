import type { ObservedMetric } from '@metrivo/observability';
import type { ConsumerStats } from './consumer';

/**
 * The consumer's own counters (the `consumer` part of an app's `/metrics` JSON) as OpenTelemetry instruments, read
 * at collection time. runConsumer registers them for every consumer with its group as `messaging.consumer.group.name`
 * (OpenTelemetry's messaging names): what on-call alerts on — lag, dead letters, a consumer that crashed.
 */
export function consumerMetrics(stats: () => ConsumerStats): ObservedMetric[] {
  return [
    {
      name: 'metrivo.consumer.lag',
      description: 'Records behind the partition high watermark, as of the last batch fetched from it',
      unit: '{record}',
      kind: 'gauge',
      observe: () =>
        Object.entries(stats().lag).flatMap(([topic, partitions]) =>
          Object.entries(partitions).map(([partition, value]) => ({
            value,
            attributes: { 'messaging.destination.name': topic, 'messaging.destination.partition.id': partition },
          })),
        ),
    },
    {
      name: 'metrivo.consumer.batch.busy_for',
      description: 'How long the oldest batch in progress has been in progress (0 when none): grows while a batch is retried',
      unit: 's',
      kind: 'gauge',
      observe: () => stats().busyForMs / 1000,
    },
    {
      name: 'metrivo.consumer.records.processed',
      description: 'Valid records whose handler call succeeded',
      unit: '{record}',
      kind: 'counter',
      observe: () => stats().recordsProcessed,
    },
    {
      name: 'metrivo.consumer.records.dead_lettered',
      description: 'Records sent to the dead-letter topic, by reason (invalid_json, schema_validation, handler_error)',
      unit: '{record}',
      kind: 'counter',
      observe: () => Object.entries(stats().deadLetteredByReason).map(([reason, value]) => ({ value, attributes: { 'metrivo.dlq.reason': reason } })),
    },
    {
      name: 'metrivo.consumer.handler.failures',
      description: 'Failed handler calls (each is retried; transient ones forever)',
      unit: '{call}',
      kind: 'counter',
      observe: () => stats().handlerFailures,
    },
    {
      // Not a "running" gauge: every graceful stop (each deploy) would export 0 and page someone. A crash is exported
      // once, by the telemetry flush of the shutdown that follows it (the app then exits to be restarted).
      name: 'metrivo.consumer.crashes',
      description: 'Crashes the consumer did not recover from (0 or 1 per process: it exits and is restarted)',
      unit: '{crash}',
      kind: 'counter',
      observe: () => (stats().crashed ? 1 : 0),
    },
  ];
}
