import { ContractViolation, TOPICS } from '@metrivo/contracts';
import { ROOT_CONTEXT, context, trace, TraceFlags, type Context, type ContextManager } from '@opentelemetry/api';
import { AsyncLocalStorage } from 'node:async_hooks';
import { KafkaUnavailableError, ProducerClosedError } from './errors';
import { headerValue } from './headers';
import { BatchingProducer } from './producer';
import { FakeKafka } from './test-support/fake-kafka';

const topic = TOPICS.visitorSessions.name;
const session = (i: number) => ({
  schemaVersion: 1,
  type: 'session',
  websiteId: `w_${i % 7}`,
  visitorId: `v_${i}`,
  sessionId: `s_${i}`,
  startedAt: '2026-11-29T10:00:00.000Z',
  lastSeenAt: '2026-11-29T10:07:12.000Z',
});

function setup(options: ConstructorParameters<typeof BatchingProducer>[1] = {}) {
  const kafka = new FakeKafka();
  const producer = new BatchingProducer(kafka.asKafka(), options);
  return { producer, fake: kafka.producers[0]!, kafka };
}

describe('BatchingProducer', () => {
  it('configures kafkajs for idempotent, acks=all delivery without topic auto-creation', () => {
    const { fake } = setup();
    expect(fake.config.idempotent).toBe(true);
    expect(fake.config.maxInFlightRequests).toBeGreaterThanOrEqual(1);
    expect(fake.config.maxInFlightRequests).toBeLessThanOrEqual(5);
    expect(fake.config.allowAutoTopicCreation).toBe(false);
  });

  it('sends 200 concurrent publishes as one batch and gives each caller its own offset', async () => {
    const { producer, fake } = setup();
    const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => producer.publish(topic, { key: `w_${i % 7}`, value: session(i) })));
    expect(fake.batches).toHaveLength(1);
    expect(fake.sent()).toHaveLength(200);
    // Offsets are unique per partition and dense from 0.
    const perPartition = new Map<number, string[]>();
    for (const a of acks) perPartition.set(a.partition, [...(perPartition.get(a.partition) ?? []), a.offset!]);
    for (const offsets of perPartition.values()) {
      expect(offsets.map(Number).sort((x, y) => x - y)).toEqual(offsets.map((_, i) => i));
    }
    expect(producer.stats()).toMatchObject({ batchesSent: 1, recordsAcknowledged: 200, queued: 0, inFlight: 0 });
  });

  it('splits at maxBatchRecords and keeps publish order across batches', async () => {
    const { producer, fake } = setup({ maxBatchRecords: 30 });
    await Promise.all(Array.from({ length: 100 }, (_, i) => producer.publish(topic, { key: 'same', value: session(i) })));
    expect(fake.batches.map((b) => b[0]!.messages.length)).toEqual([30, 30, 30, 10]);
    const order = fake.sent().map(({ message }) => JSON.parse(String(message.value)).sessionId);
    expect(order).toEqual(Array.from({ length: 100 }, (_, i) => `s_${i}`));
  });

  it('keeps one batch in flight; records arriving meanwhile form the next batch', async () => {
    const { producer, fake } = setup();
    fake.sendDelayMs = 30;
    const first = producer.publish(topic, { key: 'a', value: session(1) });
    await new Promise((r) => setTimeout(r, 10)); // first batch is in flight now
    const later = Array.from({ length: 20 }, (_, i) => producer.publish(topic, { key: 'a', value: session(i + 2) }));
    await Promise.all([first, ...later]);
    expect(fake.batches.map((b) => b[0]!.messages.length)).toEqual([1, 20]);
  });

  it('rejects a contract-breaking value without sending anything', async () => {
    const { producer, fake } = setup();
    await expect(producer.publish(topic, { key: 'w', value: { ...session(1), websiteId: '' } })).rejects.toBeInstanceOf(ContractViolation);
    await producer.flush();
    expect(fake.batches).toHaveLength(0);
  });

  it('rejects every caller of a failed batch with KafkaUnavailableError, then recovers', async () => {
    const { producer, fake, kafka } = setup();
    await producer.connect();
    fake.failures.push(new Error('broker down'));
    const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => producer.publish(topic, { key: 'k', value: session(i) })));
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof KafkaUnavailableError)).toBe(true);
    // The failed kafkajs producer is replaced (its idempotence sequence numbers may be out of step now).
    expect(fake.connected).toBe(false);
    expect(kafka.producers).toHaveLength(2);
    expect(producer.isHealthy()).toBe(false);
    await expect(producer.publish(topic, { key: 'k', value: session(9) })).resolves.toMatchObject({ topicName: topic });
    expect(kafka.producers[1]!.sent()).toHaveLength(1);
    expect(producer.isHealthy()).toBe(true);
  });

  it('rejects at the send deadline when Kafka is slow, and does not send expired records afterwards', async () => {
    const { producer, fake } = setup({ sendTimeoutMs: 50 });
    fake.sendDelayMs = 150; // the broker answers, but too late
    const slow = producer.publish(topic, { key: 'k', value: session(1) });
    await new Promise((r) => setTimeout(r, 10));
    const queued = producer.publish(topic, { key: 'k', value: session(2) }); // waits behind the slow batch
    await expect(slow).rejects.toBeInstanceOf(KafkaUnavailableError);
    await expect(queued).rejects.toThrow(/did not acknowledge the record within 50 ms/);
    expect(fake.answered).toBe(0); // the callers were answered before the broker was
    await producer.flush();
    await new Promise((r) => setTimeout(r, 200));
    expect(fake.batches).toHaveLength(1); // the queued record expired before it could leave
    expect(producer.stats().recordsTimedOut).toBe(2);
  });

  it('reports unhealthy after a failure until a batch succeeds or the failure is old', async () => {
    const { producer, fake } = setup();
    await producer.connect();
    expect(producer.isHealthy()).toBe(true);
    fake.failures.push(new Error('broker down'));
    await expect(producer.publish(topic, { key: 'k', value: session(1) })).rejects.toBeInstanceOf(KafkaUnavailableError);
    expect(producer.isHealthy()).toBe(false);
    await producer.connect();
    expect(producer.isHealthy()).toBe(false);
    expect(producer.isHealthy(Date.now() + 60_000)).toBe(true);
  });

  it('rejects at the send deadline when Kafka never answers', async () => {
    const { producer, fake } = setup({ sendTimeoutMs: 50 });
    fake.hang = true;
    await expect(producer.publish(topic, { key: 'k', value: session(1) })).rejects.toBeInstanceOf(KafkaUnavailableError);
  });

  describe('with an OpenTelemetry context manager (what the SDK installs in the apps)', () => {
    const storage = new AsyncLocalStorage<Context>();
    const manager: ContextManager = {
      active: () => storage.getStore() ?? ROOT_CONTEXT,
      with: (ctx, fn, thisArg, ...args) => storage.run(ctx, () => fn.call(thisArg, ...args)),
      bind: (_ctx, target) => target,
      enable: () => manager,
      disable: () => manager,
    };
    beforeAll(() => context.setGlobalContextManager(manager));
    afterAll(() => context.disable());

    it('adds the active trace context as a traceparent header', async () => {
      const { producer, fake } = setup();
      const spanContext = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED };
      await context.with(trace.setSpanContext(ROOT_CONTEXT, spanContext), () =>
        producer.publish(topic, { key: 'k', value: session(1), headers: { 'x-source': 'test' } }),
      );
      const headers = fake.sent()[0]!.message.headers;
      expect(headerValue(headers, 'traceparent')).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
      expect(headerValue(headers, 'x-source')).toBe('test');
    });

    it('does not write the traceparent into the caller\'s own headers object', async () => {
      const { producer, fake } = setup();
      const spanContext = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED };
      const headers = { 'x-source': 'test' };
      await context.with(trace.setSpanContext(ROOT_CONTEXT, spanContext), () => producer.publish(topic, { key: 'k', value: session(1), headers }));
      expect(headers).toEqual({ 'x-source': 'test' });
      expect(headerValue(fake.sent()[0]!.message.headers, 'traceparent')).toBeDefined();
    });
  });

  it('flushes on disconnect and refuses publishes afterwards', async () => {
    const { producer, fake } = setup({ lingerMs: 10_000 });
    const pending = producer.publish(topic, { key: 'k', value: session(1) });
    await producer.disconnect();
    await expect(pending).resolves.toMatchObject({ topicName: topic, offset: '0' });
    expect(fake.connected).toBe(false);
    expect(producer.isHealthy()).toBe(false);
    await expect(producer.publish(topic, { key: 'k', value: session(2) })).rejects.toBeInstanceOf(ProducerClosedError);
  });

  it('asks the broker for acks=all on every batch', async () => {
    const { producer, fake } = setup();
    const sendBatch = jest.spyOn(fake, 'sendBatch');
    await producer.publish(topic, { key: 'k', value: session(1) });
    expect(sendBatch).toHaveBeenCalledWith(expect.objectContaining({ acks: -1 }));
  });

  it('refuses maxBatchRecords below 1 (no batch could ever leave)', () => {
    expect(() => setup({ maxBatchRecords: 0 })).toThrow(RangeError);
  });

  it('sends a full batch at once, without waiting for the linger time', async () => {
    const { producer, fake } = setup({ lingerMs: 60_000, maxBatchRecords: 3 });
    const acks = Promise.all([1, 2, 3].map((i) => producer.publish(topic, { key: 'k', value: session(i) })));
    await new Promise((r) => setTimeout(r, 20));
    expect(fake.batches.map((b) => b[0]!.messages.length)).toEqual([3]);
    await acks;
  });

  it('is not healthy before it ever connected', () => {
    const { producer } = setup();
    expect(producer.isHealthy()).toBe(false);
  });

  it('flush waits for the batch already in flight, not only for queued records', async () => {
    const { producer, fake } = setup();
    fake.sendDelayMs = 50;
    let acknowledged = false;
    const pending = producer.publish(topic, { key: 'k', value: session(1) }).then(() => (acknowledged = true));
    await new Promise((r) => setTimeout(r, 15)); // the batch is at the broker now
    expect(producer.stats().inFlight).toBe(1);
    await producer.flush();
    expect(acknowledged).toBe(true);
    await pending;
  });

  it('refuses publishes from the moment disconnect is called, while it still flushes', async () => {
    const { producer } = setup({ lingerMs: 10_000 });
    const queued = producer.publish(topic, { key: 'k', value: session(1) });
    const closing = producer.disconnect();
    await expect(producer.publish(topic, { key: 'k', value: session(2) })).rejects.toBeInstanceOf(ProducerClosedError);
    await closing;
    await expect(queued).resolves.toMatchObject({ topicName: topic });
  });

  it('waits for a connect still in flight before disconnecting (no socket opened after the disconnect)', async () => {
    const { producer, fake } = setup();
    const realConnect = fake.connect.bind(fake);
    jest.spyOn(fake, 'connect').mockImplementation(() => new Promise((r) => setTimeout(() => r(realConnect()), 30)));
    const connecting = producer.connect();
    await producer.disconnect();
    await connecting;
    await new Promise((r) => setTimeout(r, 40));
    expect(fake.connected).toBe(false);
  });

  it('connects once for concurrent connect calls', async () => {
    const { producer, fake } = setup();
    const realConnect = fake.connect.bind(fake);
    const connect = jest.spyOn(fake, 'connect').mockImplementation(() => new Promise((r) => setTimeout(() => r(realConnect()), 10)));
    await Promise.all([producer.connect(), producer.connect(), producer.connect()]);
    expect(connect).toHaveBeenCalledTimes(1);
  });

  it('connects the replacement kafkajs producer after a failed batch (sending on an unconnected one would fail)', async () => {
    const { producer, fake, kafka } = setup();
    await producer.connect();
    fake.failures.push(new Error('broker down'));
    await expect(producer.publish(topic, { key: 'k', value: session(1) })).rejects.toBeInstanceOf(KafkaUnavailableError);
    await new Promise((r) => setImmediate(r));
    expect(kafka.producers[1]!.connected).toBe(true);
    expect(producer.isConnected()).toBe(true);
  });

  it('opens no new kafkajs producer when a batch fails during disconnect', async () => {
    const { producer, fake, kafka } = setup({ lingerMs: 10_000 });
    fake.failures.push(new Error('broker down'));
    const pending = producer.publish(topic, { key: 'k', value: session(1) });
    await producer.disconnect();
    await expect(pending).rejects.toBeInstanceOf(KafkaUnavailableError);
    expect(kafka.producers).toHaveLength(1);
  });

  it('counts a record whose caller timed out neither as acknowledged nor as failed when its batch answers later', async () => {
    const { producer, fake } = setup({ sendTimeoutMs: 30 });
    fake.sendDelayMs = 80;
    const untilAnswered = async (n: number) => {
      while (fake.answered < n) await new Promise((r) => setTimeout(r, 5));
    };
    await expect(producer.publish(topic, { key: 'k', value: session(1) })).rejects.toBeInstanceOf(KafkaUnavailableError);
    await untilAnswered(1); // the broker took it after all
    fake.failures.push(new Error('broker down'));
    await expect(producer.publish(topic, { key: 'k', value: session(2) })).rejects.toBeInstanceOf(KafkaUnavailableError);
    await untilAnswered(2); // and refused this one, after its caller had been told
    expect(producer.stats()).toMatchObject({ recordsTimedOut: 2, recordsAcknowledged: 0, recordsFailed: 0 });
  });

  it('stops the deadline timer of an acknowledged record (it is not counted as timed out later)', async () => {
    const { producer } = setup({ sendTimeoutMs: 30 });
    await producer.publish(topic, { key: 'k', value: session(1) });
    await new Promise((r) => setTimeout(r, 60));
    expect(producer.stats()).toMatchObject({ recordsAcknowledged: 1, recordsTimedOut: 0 });
  });

  it('bounds kafkajs retries by the send deadline', () => {
    const { fake } = setup({ sendTimeoutMs: 2000 });
    expect(fake.config.retry).toMatchObject({ retries: 5, maxRetryTime: 500 });
  });

  it('sends bytes unchanged to topics without a schema', async () => {
    const { producer, fake } = setup();
    const raw = Buffer.from('{not json');
    await producer.publish(`${topic}.dlq`, { key: null, value: raw });
    expect(fake.sent()[0]!.message.value).toBe(raw);
  });
});
