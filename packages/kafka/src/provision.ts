import { topicCatalog } from '@metrivo/contracts';
import type { Admin, ITopicConfig, Kafka } from 'kafkajs';
import { sleep } from './backoff';
import { commitGroupOffsets, fetchPartitionOffsets } from './offsets';
import { silentLogger, type Logger } from './logger';

/** What provisioning needs to know about a topic (a topic catalog entry fits). */
export interface TopicDefinition {
  name: string;
  partitions: number;
  cleanupPolicy: 'delete' | 'compact';
  /** null: no time-based retention (compacted topics keep the latest value per key forever). */
  retentionMs: number | null;
}

/** One number for every topic, or per topic name (topics not named keep their catalog count). */
export type PartitionsOverride = number | Readonly<Record<string, number>>;

export interface ProvisionOptions {
  partitionsOverride?: PartitionsOverride;
  logger?: Logger;
  /** How long to wait for new partitions to get a leader. Default 15 s. */
  leaderTimeoutMs?: number;
}

export interface ProvisionResult {
  /** Topics that were missing when we looked (created by us, or by a concurrent provisioner meanwhile). */
  created: string[];
  grown: string[];
  unchanged: string[];
  replicationFactor: number;
}

/** Three copies where the cluster has them; a single-node dev broker can only hold one. */
export function replicationFactorFor(brokerCount: number): number {
  return Math.max(1, Math.min(3, brokerCount));
}

export function partitionsFor(topic: TopicDefinition, override?: PartitionsOverride): number {
  if (typeof override === 'number') return override;
  return override?.[topic.name] ?? topic.partitions;
}

export function topicConfigEntries(topic: TopicDefinition, replicationFactor: number): Array<{ name: string; value: string }> {
  const entries: Array<{ name: string; value: string }> = [{ name: 'cleanup.policy', value: topic.cleanupPolicy }];
  if (topic.cleanupPolicy === 'delete' && topic.retentionMs !== null) {
    entries.push({ name: 'retention.ms', value: String(topic.retentionMs) });
  }
  // With acks=all, two in-sync copies make an acknowledged record survive the loss of one broker.
  if (replicationFactor >= 3) entries.push({ name: 'min.insync.replicas', value: '2' });
  return entries;
}

export function topicCreationConfigs(
  topics: readonly TopicDefinition[],
  brokerCount: number,
  override?: PartitionsOverride,
): ITopicConfig[] {
  const replicationFactor = replicationFactorFor(brokerCount);
  return topics.map((t) => ({
    topic: t.name,
    numPartitions: partitionsFor(t, override),
    replicationFactor,
    configEntries: topicConfigEntries(t, replicationFactor),
  }));
}

/**
 * Creates the topics that do not exist yet and grows partitions where an override asks for more.
 * Existing topics' configuration is left alone (operators may have tuned it). Safe to run concurrently
 * from several processes: a topic someone else created in the meantime counts as existing.
 */
export async function ensureTopics(kafka: Kafka, topics: readonly TopicDefinition[], options: ProvisionOptions = {}): Promise<ProvisionResult> {
  const logger = options.logger ?? silentLogger;
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { brokers } = await admin.describeCluster();
    const replicationFactor = replicationFactorFor(brokers.length);
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.name));
    const created: string[] = [];
    if (missing.length > 0) {
      // false means "someone else created them first", which is fine.
      const createdNow = await admin.createTopics({
        topics: topicCreationConfigs(missing, brokers.length, options.partitionsOverride),
        waitForLeaders: true,
      });
      created.push(...missing.map((t) => t.name));
      logger.info({ topics: created, replicationFactor, createdNow }, 'kafka topics provisioned');
    }
    const grown = options.partitionsOverride === undefined ? [] : await growPartitions(admin, topics, options.partitionsOverride, logger);
    const leaderTimeoutMs = options.leaderTimeoutMs ?? 15_000;
    await waitForLeaders(admin, topics.map((t) => t.name), leaderTimeoutMs);
    // Metadata can name a leader before that broker serves the partition; a consumer group or an offset
    // reset that runs right after provisioning would then be refused. Wait until the new partitions answer.
    await Promise.all([...created, ...grown].map((name) => fetchPartitionOffsets(kafka, name, leaderTimeoutMs)));
    return {
      created,
      grown,
      unchanged: topics.map((t) => t.name).filter((n) => !created.includes(n) && !grown.includes(n)),
      replicationFactor,
    };
  } finally {
    await admin.disconnect();
  }
}

/**
 * Commits the current end offsets of `topics` for a consumer group that has not joined yet, so that it
 * starts reading there instead of at its `fromBeginning` default. Used by replays that must not re-read
 * history, by benchmarks, and by tests that share topics with other runs. Catalog topics that do not exist yet
 * (a new broker) are provisioned first: a topic that does not exist has no end to start at.
 */
export async function startGroupAtEnd(kafka: Kafka, groupId: string, topics: readonly string[], timeoutMs = 15_000): Promise<void> {
  const fromCatalog = topicCatalog().filter((t) => topics.includes(t.name));
  if (fromCatalog.length > 0) await ensureTopics(kafka, fromCatalog, { leaderTimeoutMs: timeoutMs });
  const ends = await Promise.all(topics.map(async (topic) => ({ topic, offsets: await fetchPartitionOffsets(kafka, topic, timeoutMs) })));
  await commitGroupOffsets(kafka, groupId, ends.flatMap(({ topic, offsets }) => offsets.map((p) => ({ topic, partition: p.partition, offset: p.high }))));
}

/** Every catalog topic, DLQs included, with the catalog's cleanup policy and retention. */
export function provisionTopics(kafka: Kafka, options: ProvisionOptions = {}): Promise<ProvisionResult> {
  return ensureTopics(kafka, topicCatalog(), options);
}

async function growPartitions(admin: Admin, topics: readonly TopicDefinition[], override: PartitionsOverride, logger: Logger): Promise<string[]> {
  const metadata = await admin.fetchTopicMetadata({ topics: topics.map((t) => t.name) });
  const current = new Map(metadata.topics.map((t) => [t.name, t.partitions.length]));
  const grown: string[] = [];
  for (const topic of topics) {
    const wanted = partitionsFor(topic, override);
    const have = current.get(topic.name) ?? 0;
    if (have >= wanted) continue;
    try {
      await admin.createPartitions({ topicPartitions: [{ topic: topic.name, count: wanted }] });
      grown.push(topic.name);
      logger.info({ topic: topic.name, from: have, to: wanted }, 'kafka topic partitions grown');
    } catch (e) {
      // A concurrent provisioner may have grown it already: only fail if it is still short.
      const after = await admin.fetchTopicMetadata({ topics: [topic.name] });
      if ((after.topics[0]?.partitions.length ?? 0) < wanted) throw e;
    }
  }
  return grown;
}

async function waitForLeaders(admin: Admin, topics: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const metadata = await admin.fetchTopicMetadata({ topics });
      const ready = metadata.topics.length === topics.length && metadata.topics.every((t) => t.partitions.every((p) => p.leader >= 0));
      if (ready) return;
    } catch (e) {
      lastError = e; // LEADER_NOT_AVAILABLE / UNKNOWN_TOPIC right after creation
    }
    if (Date.now() > deadline) {
      throw new Error(`Kafka topics have no leader after ${timeoutMs} ms: ${topics.join(', ')}`, { cause: lastError });
    }
    await sleep(100);
  }
}
