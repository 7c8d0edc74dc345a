import { observeMetrics } from '@metrivo/observability';
import { testMeterProvider } from '@metrivo/testing';
import { lagOfAssigned, type ConsumerStats } from './consumer';
import { consumerMetrics } from './consumer-metrics';

const stats: ConsumerStats = {
  running: true,
  crashed: false,
  busyForMs: 2500,
  recordsProcessed: 120,
  recordsDeadLettered: 3,
  deadLetteredByReason: { invalid_json: 1, schema_validation: 0, handler_error: 2 },
  handlerCalls: 9,
  handlerFailures: 4,
  commits: 8,
  lag: { 'metrivo.payments.v1': { 0: 7, 3: 0 } },
  lastError: 'x',
};

describe('consumerMetrics', () => {
  it('exports lag per partition, processed, dead letters per reason, failures and crashes', async () => {
    const { provider, collect } = testMeterProvider();
    let current = stats;
    observeMetrics('@metrivo/kafka', consumerMetrics(() => current), { attributes: { 'messaging.consumer.group.name': 'metrivo-ledger' }, meterProvider: provider });
    const group = { 'messaging.consumer.group.name': 'metrivo-ledger' };
    const points = await collect();
    expect(points).toEqual(
      expect.arrayContaining([
        { name: 'metrivo.consumer.lag', unit: '{record}', value: 7, attributes: { ...group, 'messaging.destination.name': 'metrivo.payments.v1', 'messaging.destination.partition.id': '0' } },
        { name: 'metrivo.consumer.lag', unit: '{record}', value: 0, attributes: { ...group, 'messaging.destination.name': 'metrivo.payments.v1', 'messaging.destination.partition.id': '3' } },
        { name: 'metrivo.consumer.records.processed', unit: '{record}', value: 120, attributes: group },
        { name: 'metrivo.consumer.records.dead_lettered', unit: '{record}', value: 1, attributes: { ...group, 'metrivo.dlq.reason': 'invalid_json' } },
        { name: 'metrivo.consumer.records.dead_lettered', unit: '{record}', value: 2, attributes: { ...group, 'metrivo.dlq.reason': 'handler_error' } },
        { name: 'metrivo.consumer.handler.failures', unit: '{call}', value: 4, attributes: group },
        { name: 'metrivo.consumer.crashes', unit: '{crash}', value: 0, attributes: group },
        { name: 'metrivo.consumer.batch.busy_for', unit: 's', value: 2.5, attributes: group },
      ]),
    );
    expect(points).toHaveLength(9); // + schema_validation 0
    current = { ...stats, running: false, crashed: true };
    expect((await collect()).find((p) => p.name === 'metrivo.consumer.crashes')?.value).toBe(1);
  });
});

describe('lagOfAssigned', () => {
  it('keeps only the partitions the member still owns after a rebalance', () => {
    const lag = { a: { 0: 5, 1: 7, 2: 0 }, b: { 0: 3 } };
    expect(lagOfAssigned(lag, { a: [1, 2], c: [0] })).toEqual({ a: { 1: 7, 2: 0 } });
    expect(lagOfAssigned(lag, {})).toEqual({});
    expect(lagOfAssigned(lag, { a: [0, 1, 2], b: [0] })).toEqual(lag);
  });
});
