import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DLQ_HEADERS, TOPICS, dlqTopicName } from '@metrivo/contracts';
import type { Kafka } from 'kafkajs';
import { runConsumer, type ConsumedRecord, type ConsumerHandle } from './consumer';
import { headerValue } from './headers';
import { testMeterProvider, type CollectedPoint } from '@metrivo/testing';
import {
  brokers,
  committedOffsets,
  createTestTopic,
  deleteTestTopics,
  fastConsumer,
  readRecords,
  sessionEvent,
  testKafka,
  uniqueName,
  waitFor,
} from './test-support/int-helpers';

const kafka = testKafka('consumer-int');
const topics: string[] = [];
const handles: ConsumerHandle[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop()));
});
afterAll(() => deleteTestTopics(kafka, topics));

async function topicWith(what: string, values: Array<{ key: string; value: string | Buffer; headers?: Record<string, string> }>, partitions = 1): Promise<string> {
  const topic = uniqueName(what);
  topics.push(topic);
  await createTestTopic(kafka, topic, partitions);
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  // kafkajs encodes a null header value (length -1) but throws while sizing it (Buffer.byteLength(null)): let the
  // test send what other producers can, a header without a value.
  const byteLength = Buffer.byteLength;
  Buffer.byteLength = ((value: Parameters<typeof byteLength>[0], encoding?: BufferEncoding) => (value === null ? 0 : byteLength(value, encoding))) as typeof byteLength;
  try {
    await producer.send({ topic, acks: -1, messages: values }); // one request: one record batch
  } finally {
    Buffer.byteLength = byteLength;
    await producer.disconnect();
  }
  return topic;
}

const numbered = (count: number) => Array.from({ length: count }, (_, i) => ({ key: 'k', value: JSON.stringify({ n: i }) }));

async function consume(options: { kafka?: Kafka; topic: string; groupId: string; onRecords?: (records: ConsumedRecord[]) => Promise<void> | void; maxRecordsPerCall?: number }) {
  const received: ConsumedRecord[] = [];
  const handle = await runConsumer({
    ...fastConsumer,
    kafka: options.kafka ?? kafka,
    groupId: options.groupId,
    topics: [options.topic],
    schemas: { [options.topic]: null },
    ...(options.maxRecordsPerCall !== undefined && { maxRecordsPerCall: options.maxRecordsPerCall }),
    handler: async ({ records }) => {
      await options.onRecords?.(records);
      received.push(...records);
    },
  });
  handles.push(handle);
  return { handle, received };
}

describe('runConsumer (real broker)', () => {
  it('(b) sends invalid JSON and schema-invalid records to the DLQ with reason headers and original bytes, and moves on', async () => {
    const websiteId = uniqueName('w');
    const notJson = Buffer.from('{"schemaVersion":1,"type":');
    const invalid = JSON.stringify({ ...sessionEvent(websiteId, 1), visitorId: '', startedAt: 'yesterday' });
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const topic = await topicWith('dlq', [
      // A header without a value (kafkajs sends and reads it as null) must not make a record unreadable.
      { key: websiteId, value: notJson, headers: { 'x-origin': 'tracker', 'x-no-value': null as unknown as string } },
      { key: websiteId, value: invalid },
      { key: websiteId, value: JSON.stringify(sessionEvent(websiteId, 2)), headers: { traceparent, 'x-no-value': null as unknown as string } },
    ]);
    const groupId = uniqueName('group');
    const received: ConsumedRecord[] = [];
    const meters = testMeterProvider();
    const handle = await runConsumer({
      ...fastConsumer,
      kafka,
      groupId,
      topics: [topic],
      schemas: { [topic]: TOPICS.visitorSessions.schema },
      meterProvider: meters.provider,
      handler: async ({ records }) => {
        received.push(...records);
      },
    });
    handles.push(handle);
    await waitFor(() => received.length === 1, 15_000, 'the valid record');
    expect(received[0]).toMatchObject({ offset: '2', key: websiteId, traceparent, value: sessionEvent(websiteId, 2) });
    expect(received[0]!.headers).toEqual({ traceparent });
    const [sourceRecord] = await readRecords(kafka, topic, 1);
    expect(sourceRecord!.headers!['x-no-value']).toBeNull(); // the broker really holds a header without a value

    const dead = await readRecords(kafka, dlqTopicName(topic), 2);
    expect(dead).toHaveLength(2);
    const [json, schema] = dead.sort((a, b) => Number(headerValue(a.headers, DLQ_HEADERS.sourceOffset)) - Number(headerValue(b.headers, DLQ_HEADERS.sourceOffset)));
    expect(json!.value).toEqual(notJson);
    expect(json!.key?.toString()).toBe(websiteId);
    expect(headerValue(json!.headers, 'x-origin')).toBe('tracker');
    expect(headerValue(json!.headers, DLQ_HEADERS.reason)).toBe('invalid_json');
    expect(headerValue(json!.headers, DLQ_HEADERS.error)).toMatch(/not valid JSON/);
    expect(headerValue(json!.headers, DLQ_HEADERS.sourceTopic)).toBe(topic);
    expect(headerValue(json!.headers, DLQ_HEADERS.sourcePartition)).toBe('0');
    expect(headerValue(json!.headers, DLQ_HEADERS.sourceOffset)).toBe('0');
    expect(headerValue(json!.headers, DLQ_HEADERS.consumerGroup)).toBe(groupId);
    expect(Date.parse(headerValue(json!.headers, DLQ_HEADERS.failedAt)!)).toBeGreaterThan(Date.now() - 60_000);
    expect(schema!.value?.toString()).toBe(invalid);
    expect(headerValue(schema!.headers, DLQ_HEADERS.reason)).toBe('schema_validation');
    expect(headerValue(schema!.headers, DLQ_HEADERS.error)).toMatch(/visitorId: must not be empty/);
    expect(headerValue(schema!.headers, DLQ_HEADERS.error)).toMatch(/startedAt/);
    expect(headerValue(schema!.headers, DLQ_HEADERS.sourceOffset)).toBe('1');

    // The same counts reach OpenTelemetry (what on-call alerts on), tagged with the group.
    const value = (points: CollectedPoint[], name: string, attributes: Record<string, unknown> = {}) =>
      points.find((p) => p.name === name && Object.entries(attributes).every(([k, v]) => p.attributes[k] === v) && p.attributes['messaging.consumer.group.name'] === groupId)?.value;
    const before = await meters.collect();
    expect(value(before, 'metrivo.consumer.records.processed')).toBe(1);
    expect(value(before, 'metrivo.consumer.records.dead_lettered', { 'metrivo.dlq.reason': 'invalid_json' })).toBe(1);
    expect(value(before, 'metrivo.consumer.records.dead_lettered', { 'metrivo.dlq.reason': 'schema_validation' })).toBe(1);
    expect(value(before, 'metrivo.consumer.lag', { 'messaging.destination.name': topic, 'messaging.destination.partition.id': '0' })).toBe(0);
    expect(value(before, 'metrivo.consumer.crashes')).toBe(0);

    await handle.stop();
    expect((await committedOffsets(kafka, groupId, topic)).get(0)).toBe('3');
    expect(handle.stats()).toMatchObject({ recordsProcessed: 1, recordsDeadLettered: 2, deadLetteredByReason: { invalid_json: 1, schema_validation: 1 } });
    // A graceful stop is not a crash (it happens on every deploy).
    expect(value(await meters.collect(), 'metrivo.consumer.crashes')).toBe(0);
  });

  it('(c) after a crash mid-batch, the group re-delivers exactly the uncommitted records', async () => {
    const topic = await topicWith('crash', numbered(15));
    const groupId = uniqueName('group');
    const repoRoot = join(__dirname, '..', '..', '..');
    // One plain node process (tsx as a loader, not its CLI, which would fork a grandchild SIGKILL cannot reach).
    const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=metrivo-source', join(__dirname, 'test-support', 'consume-until-killed.ts')], {
      cwd: repoRoot,
      env: { ...process.env, KAFKA_BROKERS: brokers(), TOPIC: topic, GROUP_ID: groupId, MAX_RECORDS_PER_CALL: '4', HANG_ON_CALL: '3' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const handledByChild: string[] = [];
    let hanging: string[] | undefined;
    try {
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        const event = JSON.parse(line) as { event: string; offsets?: string[] };
        if (event.event === 'handled') handledByChild.push(...event.offsets!);
        if (event.event === 'hanging') hanging = event.offsets;
      });
      await waitFor(() => hanging !== undefined, 20_000, 'the child to hang in its third handler call');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }

    const committed = (await committedOffsets(kafka, groupId, topic)).get(0)!;
    expect(Number(committed)).toBeGreaterThan(0); // the first calls were committed...
    expect(committed).toBe(hanging![0]); // ...and the batch in flight at the crash was not
    expect(handledByChild.every((o) => Number(o) < Number(committed))).toBe(true);

    const { received } = await consume({ topic, groupId });
    await waitFor(() => received.some((r) => r.offset === '14'), 20_000, 'the records after the crash');
    const expected = Array.from({ length: 15 - Number(committed) }, (_, i) => String(Number(committed) + i));
    expect(received.map((r) => r.offset)).toEqual(expected);
  }, 45_000);

  it('(d) retries a transiently failing handler without skipping, then commits once', async () => {
    const topic = await topicWith('transient', numbered(5));
    const groupId = uniqueName('group');
    const calls: string[][] = [];
    const busyAtCall: number[] = [];
    const started = Date.now();
    const holder: { handle?: ConsumerHandle } = {};
    const { handle, received } = await consume({
      topic,
      groupId,
      onRecords: (records) => {
        calls.push(records.map((r) => r.offset));
        busyAtCall.push(holder.handle?.stats().busyForMs ?? -1);
        if (calls.length <= 2) throw new Error('database unavailable');
      },
    });
    holder.handle = handle;
    let commitEvents = 0;
    handle.consumer.on(handle.consumer.events.COMMIT_OFFSETS, () => {
      commitEvents += 1;
    });
    await waitFor(() => received.length === 5, 15_000, 'the handler to succeed');
    await handle.stop();
    const all = ['0', '1', '2', '3', '4'];
    expect(calls).toEqual([all, all, all]);
    expect(received.map((r) => r.offset)).toEqual(all);
    expect(handle.stats()).toMatchObject({ handlerFailures: 2, handlerCalls: 3, commits: 1, recordsProcessed: 5 });
    expect(commitEvents).toBe(1);
    expect((await committedOffsets(kafka, groupId, topic)).get(0)).toBe('5');
    // While the batch was retried it counted as busy (lag, measured at fetches, stands still then); done: 0.
    const third = busyAtCall[2]!;
    expect(third).toBeGreaterThanOrEqual(50); // two backoffs of ≥ 50 ms (fastConsumer) passed (-1: no handle yet)
    expect(third).toBeLessThanOrEqual(Date.now() - started);
    expect(handle.stats().busyForMs).toBe(0);
  });

  it('(e) a graceful stop finishes and commits the handler call in flight; the group resumes after it', async () => {
    const topic = await topicWith('graceful', numbered(10));
    const groupId = uniqueName('group');
    let stopping: Promise<void> | undefined;
    let calls = 0;
    const first = await consume({
      topic,
      groupId,
      maxRecordsPerCall: 4,
      onRecords: async () => {
        calls += 1;
        if (calls === 2) {
          stopping = first.handle.stop(); // e.g. SIGTERM arrives while this call is still working
          await new Promise((r) => setTimeout(r, 200));
        }
      },
    });
    await waitFor(() => stopping !== undefined, 15_000, 'the second handler call');
    await stopping;
    expect(first.received.map((r) => r.offset)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
    expect((await committedOffsets(kafka, groupId, topic)).get(0)).toBe('8');
    expect(first.handle.isRunning()).toBe(false);

    const second = await consume({ topic, groupId });
    await waitFor(() => second.received.length >= 2, 15_000, 'the remaining records');
    await new Promise((r) => setTimeout(r, 300));
    expect(second.received.map((r) => r.offset)).toEqual(['8', '9']);
  });
});
