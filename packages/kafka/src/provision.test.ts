import { DLQ_RETENTION_MS, TOPICS, topicCatalog } from '@metrivo/contracts';
import { partitionsFor, replicationFactorFor, topicConfigEntries, topicCreationConfigs } from './provision';

const config = (entries: Array<{ name: string; value: string }> | undefined) => Object.fromEntries((entries ?? []).map((e) => [e.name, e.value]));

describe('replicationFactorFor', () => {
  it('is three where the cluster has three brokers, fewer on smaller clusters', () => {
    expect([1, 2, 3, 5].map(replicationFactorFor)).toEqual([1, 2, 3, 3]);
    expect(replicationFactorFor(0)).toBe(1);
  });
});

describe('topicCreationConfigs for the catalog', () => {
  it('creates every topic and its DLQ with the catalog policy and retention', () => {
    const configs = topicCreationConfigs(topicCatalog(), 1);
    const byName = new Map(configs.map((c) => [c.topic, c]));
    expect(byName.size).toBe(Object.keys(TOPICS).length * 2);

    const payments = byName.get(TOPICS.payments.name)!;
    expect(payments.numPartitions).toBe(TOPICS.payments.partitions);
    expect(payments.replicationFactor).toBe(1);
    expect(config(payments.configEntries)).toEqual({ 'cleanup.policy': 'delete', 'retention.ms': String(TOPICS.payments.retentionMs) });

    const revenue = byName.get(TOPICS.revenueAttributed.name)!;
    expect(config(revenue.configEntries)).toEqual({ 'cleanup.policy': 'compact' });

    const revenueDlq = byName.get(`${TOPICS.revenueAttributed.name}.dlq`)!;
    expect(config(revenueDlq.configEntries)).toEqual({ 'cleanup.policy': 'delete', 'retention.ms': String(DLQ_RETENTION_MS) });
  });

  it('asks for two in-sync replicas once there are three copies', () => {
    const [payments] = topicCreationConfigs([TOPICS.payments], 4);
    expect(payments!.replicationFactor).toBe(3);
    expect(config(payments!.configEntries)['min.insync.replicas']).toBe('2');
    expect(config(topicConfigEntries(TOPICS.payments, 2))['min.insync.replicas']).toBeUndefined();
  });

  it('applies a partitions override, global or per topic', () => {
    expect(topicCreationConfigs(topicCatalog(), 1, 2).every((c) => c.numPartitions === 2)).toBe(true);
    expect(partitionsFor(TOPICS.payments, { [TOPICS.payments.name]: 12 })).toBe(12);
    expect(partitionsFor(TOPICS.visitorSessions, { [TOPICS.payments.name]: 12 })).toBe(TOPICS.visitorSessions.partitions);
  });
});
