// Helpers for the attribution *.int.test.ts files: the real broker and database from the jest integration
// global setup, per-run names, consumer groups that start at the current end of the shared topics (so
// records left by other tests and runs are never read), and a reader of the output topic.
import { TOPICS, type PaymentState } from '@metrivo/contracts';
import { createKafka, runConsumer, startGroupAtEnd, type ConsumerHandle, type Logger as KafkaLogger } from '@metrivo/kafka';
import { createLogger, type Logger } from '@metrivo/observability';
import type { Kafka } from 'kafkajs';
import { logLevel } from 'kafkajs';
import { stateContent } from '../domain';
import { stableStringify } from '../domain/util';
import { loadAttributionConfig, type AttributionConfig } from '../env';

import { brokers, fastConsumer, runId, uniqueId, waitFor } from '@metrivo/testing';

export { brokers, dropDatabase, fastConsumer, mongodbUri, runId, uniqueId, waitFor } from '@metrivo/testing';

/** Quiet unless ATTRIBUTION_TEST_LOG names a level (e.g. debug). */
export function testLogger(): Logger {
  return createLogger({ service: 'attribution-test', level: process.env.ATTRIBUTION_TEST_LOG ?? 'silent' });
}

export function testKafka(clientId: string, logger: KafkaLogger = testLogger()): Kafka {
  return createKafka({ brokers: brokers(), clientId: `${clientId}-${runId}`, logger, logLevel: process.env.ATTRIBUTION_TEST_LOG ? logLevel.INFO : logLevel.NOTHING });
}

export function testConfig(env: Record<string, string>): AttributionConfig {
  return loadAttributionConfig({
    ...process.env,
    ATTRIBUTION_PORT: '0',
    LOG_LEVEL: process.env.ATTRIBUTION_TEST_LOG ?? 'silent',
    KAFKA_SEND_TIMEOUT_MS: '5000',
    ...env,
  });
}

export { startGroupAtEnd };

/** Everything produced to metrivo.revenue.attributed.v1 from now on, for websites whose id starts with `prefix`. */
export class StateReader {
  readonly received: Array<{ key: string | null; state: PaymentState; partition: number; offset: string }> = [];

  private handle: ConsumerHandle | undefined;

  static async start(kafka: Kafka, prefix: string): Promise<StateReader> {
    const groupId = uniqueId('test-reader');
    await startGroupAtEnd(kafka, groupId, [TOPICS.revenueAttributed.name]);
    const reader = new StateReader();
    reader.handle = await runConsumer<PaymentState>({
      ...fastConsumer,
      kafka,
      groupId,
      topics: [TOPICS.revenueAttributed.name],
      handler: async ({ partition, records }) => {
        for (const r of records) {
          if (r.value.websiteId.startsWith(prefix)) reader.received.push({ key: r.key, state: r.value, partition, offset: r.offset });
        }
      },
    });
    await reader.handle.joined;
    return reader;
  }

  states(websiteId: string): PaymentState[] {
    return this.received.filter((r) => r.state.websiteId === websiteId).map((r) => r.state);
  }

  /** What a consumer keeping the highest revision per key holds. */
  latest(websiteId: string): Map<string, PaymentState> {
    const out = new Map<string, PaymentState>();
    for (const s of this.states(websiteId)) {
      const cur = out.get(s.paymentKey);
      if (!cur || s.revision > cur.revision) out.set(s.paymentKey, s);
    }
    return out;
  }

  /** The non-merged states (one per real-world payment). */
  live(websiteId: string): PaymentState[] {
    return [...this.latest(websiteId).values()].filter((s) => s.status !== 'merged').sort((a, b) => (a.paymentKey < b.paymentKey ? -1 : 1));
  }

  async waitFor(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    await waitFor(predicate, timeoutMs, what);
  }

  async stop(): Promise<void> {
    await this.handle?.stop();
  }
}

/**
 * Consumers keep the highest revision per key, so one (key, revision) must never carry two different
 * contents; and every record is keyed `{websiteId}:{paymentKey}`. Returns the violations.
 */
export function revisionViolations(received: StateReader['received']): string[] {
  const seen = new Map<string, string>();
  const problems: string[] = [];
  for (const { key, state } of received) {
    if (key !== `${state.websiteId}:${state.paymentKey}`) problems.push(`record key ${key} for ${state.paymentKey}`);
    const id = `${state.websiteId}:${state.paymentKey}#${state.revision}`;
    const content = stableStringify(stateContent(state));
    const before = seen.get(id);
    if (before !== undefined && before !== content) problems.push(`${id} published with two contents`);
    seen.set(id, content);
  }
  return problems;
}

