import { countersOf, type ObservedMetric } from '@metrivo/observability';
import type { ApplyStats } from './main';

/**
 * The ledger's recording counters (the `apply` part of `/metrics`) as OpenTelemetry counters; the consumer's own
 * (lag, dead letters, running) come from @metrivo/kafka. Alert on `metrivo.ledger.apply.failures` growing (batches
 * retried with backoff: MongoDB trouble or a bug) and on `pending_completed` growing (crash leftovers being repaired).
 */
export function ledgerMetrics(apply: () => ApplyStats): ObservedMetric[] {
  return countersOf(apply, [
    ['metrivo.ledger.states.applied', 'PaymentState revisions handed to the store', (s) => s.statesApplied, '{state}'],
    ['metrivo.ledger.states.stale', 'Revisions that were stale or repeated and changed nothing', (s) => s.staleRevisions, '{state}'],
    ['metrivo.ledger.payments.advanced', 'Payments whose recorded state advanced', (s) => s.paymentsAdvanced, '{payment}'],
    ['metrivo.ledger.entries.inserted', 'Ledger entries inserted (replays not counted)', (s) => s.entriesInserted, '{entry}'],
    ['metrivo.ledger.apply.conflicts', 'Batches refused because another writer moved a payment first (retried)', (s) => s.conflicts, '{batch}'],
    ['metrivo.ledger.apply.failures', 'Batches that failed with another error (retried with backoff)', (s) => s.failures, '{batch}'],
    ['metrivo.ledger.pending_completed', 'Payments whose transition, left pending by a crash, was completed', (s) => s.pendingCompleted, '{payment}'],
  ]);
}
