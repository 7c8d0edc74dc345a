import { countersOf, type ObservedMetric } from '@metrivo/observability';
import type { ProcessorStats } from './processor';

/**
 * The processor's counters (the `processor` part of `/metrics`) as OpenTelemetry counters; the consumer's own (lag,
 * dead letters, running) come from @metrivo/kafka. `metrivo.attribution.write_conflicts` growing fast means instances
 * fight over the same payments (a rebalance storm); `sweep_republished` growing means produces were lost to crashes.
 */
export function attributionMetrics(stats: () => ProcessorStats): ObservedMetric[] {
  return countersOf(stats, [
    ['metrivo.attribution.tracker_events', 'Session and identify events consumed from the tracker', (s) => s.sessionEvents + s.identifyEvents, '{event}'],
    ['metrivo.attribution.sessions.written', 'Session documents written (new or newer versions)', (s) => s.sessionsWritten, '{session}'],
    ['metrivo.attribution.sessions.expired', 'Sessions deleted by retention', (s) => s.sessionsExpired, '{session}'],
    ['metrivo.attribution.payment_events', 'Normalized payment events consumed', (s) => s.paymentEvents, '{event}'],
    ['metrivo.attribution.states.published', 'PaymentState revisions produced to the revenue topic', (s) => s.statesPublished, '{state}'],
    ['metrivo.attribution.write_conflicts', 'Compare-and-set writes lost to another writer (the computation was redone)', (s) => s.writeConflicts, '{write}'],
    ['metrivo.attribution.sweep_republished', 'States produced by the outbox sweep (a crash left them unproduced)', (s) => s.sweepRepublished, '{state}'],
  ]);
}
