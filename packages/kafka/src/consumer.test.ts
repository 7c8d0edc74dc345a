import { DLQ_HEADERS, TOPICS } from '@metrivo/contracts';
import { createCapturingLogger } from '@metrivo/observability';
import { PoisonRecordError, RetryLaterError } from './errors';
import { headerValue } from './headers';
import { decodeMessage, isTransientError, runConsumer, type RecordBatch, type RunConsumerOptions } from './consumer';
import type { BatchingProducer } from './producer';
import { batchPayload, FakeConsumer, FakeKafka, kafkaMessage } from './test-support/fake-kafka';
import { injectTraceparent } from './trace';

const topic = TOPICS.visitorSessions.name;
const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const session = (i: number) =>
  JSON.stringify({
    schemaVersion: 1,
    type: 'session',
    websiteId: 'w_1',
    visitorId: `v_${i}`,
    sessionId: `s_${i}`,
    startedAt: '2026-11-29T10:00:00.000Z',
    lastSeenAt: '2026-11-29T10:07:12.000Z',
  });
const validMessages = (from: number, count: number) => Array.from({ length: count }, (_, i) => kafkaMessage(from + i, session(from + i), 'w_1'));

async function start(handler: RunConsumerOptions['handler'], options: Partial<RunConsumerOptions> = {}) {
  const kafka = new FakeKafka();
  const handle = await runConsumer({
    kafka: kafka.asKafka(),
    groupId: 'group-1',
    topics: [topic],
    handler,
    retryBackoff: { initialMs: 1, maxMs: 5 },
    heartbeatInterval: 5,
    now: () => new Date('2026-11-29T12:00:00.000Z'),
    ...options,
  });
  const consumer = kafka.consumers[0]!;
  const dlq = kafka.producers[0]!;
  return { handle, consumer, dlq, kafka, eachBatch: consumer.eachBatch! };
}

describe('runConsumer', () => {
  it('runs kafkajs with manual offsets: no auto-commit, no auto-resolve, no topic auto-creation', async () => {
    const { consumer } = await start(async () => undefined);
    expect(consumer.runConfig).toMatchObject({ autoCommit: false, eachBatchAutoResolve: false });
    expect(consumer.config).toMatchObject({ groupId: 'group-1', allowAutoTopicCreation: false });
    expect(consumer.subscribed).toEqual({ topics: [topic], fromBeginning: true });
  });

  it('hands valid records to the handler in order, dead-letters invalid ones with the original bytes, then commits', async () => {
    const calls: RecordBatch[] = [];
    const { eachBatch, dlq, handle } = await start(async (batch) => {
      calls.push(batch);
    });
    const notJson = Buffer.from('{"schemaVersion":1,');
    const badSchema = JSON.stringify({ ...JSON.parse(session(12)), visitorId: '' });
    const payload = batchPayload(
      topic,
      2,
      [
        kafkaMessage(10, session(10), 'w_1', { traceparent: Buffer.from(traceparent) }),
        kafkaMessage(11, notJson, 'w_1', { 'x-origin': Buffer.from('tracker') }),
        kafkaMessage(12, badSchema, 'w_2'),
        kafkaMessage(13, session(13), 'w_1'),
      ],
      '20',
    );
    await eachBatch(payload);

    expect(calls).toHaveLength(1);
    expect(calls[0]!.topic).toBe(topic);
    expect(calls[0]!.partition).toBe(2);
    expect(calls[0]!.records.map((r) => r.offset)).toEqual(['10', '13']);
    expect(calls[0]!.records[0]).toMatchObject({
      key: 'w_1',
      value: JSON.parse(session(10)),
      timestamp: '1700000000000',
      traceparent,
      headers: { traceparent },
    });
    expect(calls[0]!.records[1]!.traceparent).toBeUndefined();

    const dead = dlq.sent();
    expect(dead.map((d) => d.topic)).toEqual([`${topic}.dlq`, `${topic}.dlq`]);
    const [json, schema] = dead.map((d) => d.message);
    expect(json!.value).toEqual(notJson);
    expect(String(json!.key)).toBe('w_1');
    expect(headerValue(json!.headers, 'x-origin')).toBe('tracker');
    expect(headerValue(json!.headers, DLQ_HEADERS.reason)).toBe('invalid_json');
    expect(headerValue(json!.headers, DLQ_HEADERS.sourceOffset)).toBe('11');
    expect(headerValue(json!.headers, DLQ_HEADERS.sourcePartition)).toBe('2');
    expect(headerValue(json!.headers, DLQ_HEADERS.sourceTopic)).toBe(topic);
    expect(headerValue(json!.headers, DLQ_HEADERS.consumerGroup)).toBe('group-1');
    expect(headerValue(json!.headers, DLQ_HEADERS.failedAt)).toBe('2026-11-29T12:00:00.000Z');
    expect(String(schema!.value)).toBe(badSchema);
    expect(headerValue(schema!.headers, DLQ_HEADERS.reason)).toBe('schema_validation');
    expect(headerValue(schema!.headers, DLQ_HEADERS.error)).toMatch(/visitorId: must not be empty/);

    expect(payload.resolved).toEqual(['13']);
    expect(payload.commits).toEqual([{ topic, partition: 2, offset: '14' }]);
    expect(handle.stats()).toMatchObject({
      recordsProcessed: 2,
      recordsDeadLettered: 2,
      deadLetteredByReason: { invalid_json: 1, schema_validation: 1, handler_error: 0 },
      commits: 1,
      lag: { [topic]: { 2: 6 } },
    });
  });

  it('commits a batch of only invalid records without calling the handler', async () => {
    const handler = jest.fn(async () => undefined);
    const { eachBatch } = await start(handler);
    const payload = batchPayload(topic, 0, [kafkaMessage(5, 'nope')]);
    await eachBatch(payload);
    expect(handler).not.toHaveBeenCalled();
    expect(payload.commits).toEqual([{ topic, partition: 0, offset: '6' }]);
  });

  it('retries a failing handler with backoff, never skipping, and commits once it succeeds', async () => {
    const seen: string[][] = [];
    const { eachBatch, handle } = await start(async (batch) => {
      seen.push(batch.records.map((r) => r.offset));
      if (seen.length <= 2) throw new Error('database unavailable');
    });
    const payload = batchPayload(topic, 0, validMessages(0, 3));
    await eachBatch(payload);
    expect(seen).toEqual([
      ['0', '1', '2'],
      ['0', '1', '2'],
      ['0', '1', '2'],
    ]);
    expect(payload.commits).toEqual([{ topic, partition: 0, offset: '3' }]);
    expect(payload.heartbeats).toBeGreaterThanOrEqual(2); // membership kept alive while waiting
    expect(handle.stats()).toMatchObject({ handlerCalls: 3, handlerFailures: 2, recordsProcessed: 3, commits: 1, lastError: 'database unavailable' });
  });

  it('sends a poison record to the DLQ and retries the rest right away', async () => {
    const seen: string[][] = [];
    const { eachBatch, dlq, handle } = await start(async (batch) => {
      seen.push(batch.records.map((r) => r.offset));
      const bad = batch.records.find((r) => r.offset === '1');
      if (bad) throw new PoisonRecordError(bad.offset, 'currency mismatch with the existing payment');
    });
    const payload = batchPayload(topic, 0, validMessages(0, 3));
    await eachBatch(payload);
    expect(seen).toEqual([
      ['0', '1', '2'],
      ['0', '2'],
    ]);
    const dead = dlq.sent();
    expect(dead).toHaveLength(1);
    expect(headerValue(dead[0]!.message.headers, DLQ_HEADERS.reason)).toBe('handler_error');
    expect(headerValue(dead[0]!.message.headers, DLQ_HEADERS.error)).toBe('currency mismatch with the existing payment');
    expect(headerValue(dead[0]!.message.headers, DLQ_HEADERS.sourceOffset)).toBe('1');
    expect(String(dead[0]!.message.value)).toBe(session(1));
    expect(payload.commits).toEqual([{ topic, partition: 0, offset: '3' }]);
    expect(handle.stats().handlerFailures).toBe(0);
  });

  it('splits a batch that keeps failing with a non-transient error, and dead-letters the one record that fails alone', async () => {
    const seen: string[][] = [];
    const { eachBatch, dlq, handle } = await start(
      async (batch) => {
        seen.push(batch.records.map((r) => r.offset));
        if (batch.records.some((r) => r.offset === '1')) throw new TypeError("Cannot read properties of undefined (reading 'amount')");
      },
      { isolateAfterFailures: 3 },
    );
    const payload = batchPayload(topic, 0, validMessages(0, 3));
    await eachBatch(payload);
    expect(seen).toEqual([['0', '1', '2'], ['0', '1', '2'], ['0', '1', '2'], ['0'], ['1'], ['1'], ['1'], ['2']]);
    const dead = dlq.sent();
    expect(dead).toHaveLength(1);
    expect(headerValue(dead[0]!.message.headers, DLQ_HEADERS.sourceOffset)).toBe('1');
    expect(headerValue(dead[0]!.message.headers, DLQ_HEADERS.reason)).toBe('handler_error');
    expect(headerValue(dead[0]!.message.headers, DLQ_HEADERS.error)).toBe("failed 3 times alone: Cannot read properties of undefined (reading 'amount')");
    expect(payload.commits).toEqual([{ topic, partition: 0, offset: '3' }]);
    expect(handle.stats()).toMatchObject({ recordsProcessed: 2, recordsDeadLettered: 1 });
  });

  it('never splits or dead-letters on transient errors (database or broker unreachable): retries until they pass', async () => {
    let calls = 0;
    const { eachBatch, dlq } = await start(
      async () => {
        calls += 1;
        if (calls <= 6) throw Object.assign(new Error('connection <monitor> to 127.0.0.1:27017 closed'), { name: 'MongoNetworkError' });
      },
      { isolateAfterFailures: 2 },
    );
    const payload = batchPayload(topic, 0, validMessages(0, 3));
    await eachBatch(payload);
    expect(calls).toBe(7);
    expect(dlq.sent()).toHaveLength(0);
    expect(payload.commits).toEqual([{ topic, partition: 0, offset: '3' }]);
  });

  it('with isolateAfterFailures 0, retries every error forever as before', async () => {
    let calls = 0;
    const { eachBatch, dlq } = await start(
      async () => {
        calls += 1;
        if (calls <= 7) throw new TypeError('a bug');
      },
      { isolateAfterFailures: 0 },
    );
    const payload = batchPayload(topic, 0, validMessages(0, 2));
    await eachBatch(payload);
    expect(calls).toBe(8);
    expect(dlq.sent()).toHaveLength(0);
  });

  it('recognises a PoisonRecordError from another copy of the package by its name and offset', async () => {
    const seen: string[][] = [];
    const { eachBatch, dlq } = await start(async (batch) => {
      seen.push(batch.records.map((r) => r.offset));
      if (batch.records.some((r) => r.offset === '1')) throw Object.assign(new Error('foreign poison'), { name: 'PoisonRecordError', offset: '1' });
    });
    await eachBatch(batchPayload(topic, 0, validMessages(0, 3)));
    expect(seen).toEqual([['0', '1', '2'], ['0', '2']]);
    expect(dlq.sent()).toHaveLength(1);
  });

  it('treats a PoisonRecordError naming an offset outside the batch as transient', async () => {
    let calls = 0;
    const { eachBatch, dlq } = await start(async () => {
      calls += 1;
      if (calls === 1) throw new PoisonRecordError('999', 'wrong offset');
    });
    const payload = batchPayload(topic, 0, validMessages(0, 2));
    await eachBatch(payload);
    expect(calls).toBe(2);
    expect(dlq.sent()).toHaveLength(0);
    expect(payload.commits).toEqual([{ topic, partition: 0, offset: '2' }]);
  });

  it('retries the DLQ publish when Kafka refuses it, and commits only after it landed', async () => {
    const { eachBatch, dlq, handle, kafka } = await start(async () => undefined);
    await dlq.connect();
    dlq.failures.push(new Error('not enough replicas'));
    const payload = batchPayload(topic, 0, [kafkaMessage(0, 'bad')]);
    await eachBatch(payload);
    expect(dlq.batches).toHaveLength(1); // failed; the DLQ producer replaced its kafkajs producer
    expect(kafka.producers[1]!.sent().map((s) => String(s.message.value))).toEqual(['bad']);
    expect(payload.commits).toEqual([{ topic, partition: 0, offset: '1' }]);
    expect(handle.stats().recordsDeadLettered).toBe(1);
  });

  it('calls the handler with at most maxRecordsPerCall records and commits after each call', async () => {
    const sizes: number[] = [];
    const { eachBatch } = await start(
      async (batch) => {
        sizes.push(batch.records.length);
      },
      { maxRecordsPerCall: 2 },
    );
    const payload = batchPayload(topic, 1, validMessages(0, 5));
    await eachBatch(payload);
    expect(sizes).toEqual([2, 2, 1]);
    expect(payload.commits.map((c) => c.offset)).toEqual(['2', '4', '5']);
  });

  it('on stop, lets the in-flight handler call finish and commits it, and takes no further records', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const { eachBatch, handle, consumer } = await start(
      async () => {
        calls += 1;
        await gate;
      },
      { maxRecordsPerCall: 2 },
    );
    const payload = batchPayload(topic, 0, validMessages(0, 4));
    const processing = eachBatch(payload);
    await new Promise((r) => setTimeout(r, 5));
    const stopping = handle.stop();
    expect(handle.isRunning()).toBe(false);
    release();
    await processing;
    await stopping;
    expect(calls).toBe(1);
    expect(payload.commits).toEqual([{ topic, partition: 0, offset: '2' }]);
    expect(consumer.stopped).toBe(true);
  });

  it('on stop during handler retries, abandons the batch uncommitted (it is redelivered later)', async () => {
    let calls = 0;
    const { eachBatch, handle } = await start(
      async () => {
        calls += 1;
        throw new Error('database unavailable');
      },
      { retryBackoff: { initialMs: 60_000, maxMs: 60_000 } },
    );
    const payload = batchPayload(topic, 0, validMessages(0, 2));
    const processing = eachBatch(payload);
    await new Promise((r) => setTimeout(r, 5));
    const started = Date.now();
    await handle.stop();
    await processing;
    expect(Date.now() - started).toBeLessThan(1000);
    expect(calls).toBe(1);
    expect(payload.resolved).toEqual([]);
    expect(payload.commits).toEqual([]);
  });

  it('abandons the batch when kafkajs lost the partition (no longer running)', async () => {
    const handler = jest.fn(async () => undefined);
    const { eachBatch } = await start(handler);
    const payload = batchPayload(topic, 0, validMessages(0, 2));
    payload.running = false;
    await eachBatch(payload);
    expect(handler).not.toHaveBeenCalled();
    expect(payload.commits).toEqual([]);
  });
});

describe('runConsumer: records are never lost or duplicated', () => {
  /** A DLQ producer whose publishes fail as `fail` decides (by source offset), recording what it accepted. */
  function stubDlq(fail: (offset: string, attempt: number) => boolean) {
    const accepted: string[] = [];
    const attempts = new Map<string, number>();
    const producer = {
      publish: async (_topic: string, record: { headers: Record<string, unknown> }) => {
        const offset = headerValue(record.headers as never, DLQ_HEADERS.sourceOffset)!;
        const attempt = (attempts.get(offset) ?? 0) + 1;
        attempts.set(offset, attempt);
        if (fail(offset, attempt)) throw new Error('not enough replicas');
        accepted.push(offset);
        return { topicName: 'x', partition: 0, errorCode: 0 };
      },
      disconnect: jest.fn(async () => undefined),
    };
    return { accepted, producer, asProducer: producer as unknown as BatchingProducer };
  }

  it('retries only the DLQ sends that failed, and commits only once every one landed', async () => {
    const dlq = stubDlq((offset, attempt) => offset === '1' && attempt === 1);
    const { eachBatch } = await start(async () => undefined, { deadLetterProducer: dlq.asProducer });
    const payload = batchPayload(topic, 0, [kafkaMessage(0, 'bad-0'), kafkaMessage(1, 'bad-1')]);
    await eachBatch(payload);
    expect(dlq.accepted).toEqual(['0', '1']);
    expect(payload.commits).toEqual([{ topic, partition: 0, offset: '2' }]);
  });

  it('on stop while a DLQ send keeps failing, commits nothing (the invalid record is redelivered, not lost)', async () => {
    const dlq = stubDlq(() => true);
    const { eachBatch, handle } = await start(async () => undefined, { deadLetterProducer: dlq.asProducer, retryBackoff: { initialMs: 60_000, maxMs: 60_000 } });
    const payload = batchPayload(topic, 0, [kafkaMessage(0, 'bad')]);
    const processing = eachBatch(payload);
    await new Promise((r) => setTimeout(r, 5));
    await handle.stop();
    await processing;
    expect(dlq.accepted).toEqual([]);
    expect(payload.resolved).toEqual([]);
    expect(payload.commits).toEqual([]);
  });

  it('does not close a DLQ producer it was given (the app shares it), but closes its own', async () => {
    const dlq = stubDlq(() => false);
    const shared = await start(async () => undefined, { deadLetterProducer: dlq.asProducer });
    await shared.handle.stop();
    expect(dlq.producer.disconnect).not.toHaveBeenCalled();

    const own = await start(async () => undefined);
    await own.dlq.connect();
    await own.handle.stop();
    expect(own.dlq.connected).toBe(false);
  });

  it('closes its own DLQ producer when the start fails', async () => {
    const subscribe = jest.spyOn(FakeConsumer.prototype, 'subscribe').mockRejectedValueOnce(new Error('topic does not exist'));
    const kafka = new FakeKafka();
    try {
      await expect(runConsumer({ kafka: kafka.asKafka(), groupId: 'g', topics: [topic], handler: async () => undefined })).rejects.toThrow('topic does not exist');
      expect(kafka.producers[0]!.connected).toBe(false);
    } finally {
      subscribe.mockRestore();
    }
  });

  it('dead-letters a poison record once, even when the handler names it again after it left the batch', async () => {
    let calls = 0;
    const { eachBatch, dlq, handle } = await start(async () => {
      calls += 1;
      if (calls <= 2) throw new PoisonRecordError('1', 'bad record');
    });
    const payload = batchPayload(topic, 0, validMessages(0, 3));
    await eachBatch(payload);
    expect(dlq.sent().map((d) => headerValue(d.message.headers, DLQ_HEADERS.sourceOffset))).toEqual(['1']);
    expect(calls).toBe(3);
    expect(handle.stats()).toMatchObject({ recordsProcessed: 2, recordsDeadLettered: 1 });
  });

  it('abandons a batch kafkajs marked stale (the partition was reassigned)', async () => {
    const handler = jest.fn(async () => undefined);
    const { eachBatch } = await start(handler);
    const payload = batchPayload(topic, 0, validMessages(0, 2));
    payload.isStale = () => true;
    await eachBatch(payload);
    expect(handler).not.toHaveBeenCalled();
    expect(payload.commits).toEqual([]);
  });

  it('isolates after 5 non-transient failures by default', async () => {
    let calls = 0;
    const { eachBatch, dlq } = await start(async () => {
      calls += 1;
      throw new TypeError('a bug');
    });
    await eachBatch(batchPayload(topic, 0, validMessages(0, 1)));
    expect(calls).toBe(5);
    expect(dlq.sent()).toHaveLength(1);
  });

  it('a batch of one record that keeps failing goes to the DLQ after isolateAfterFailures calls, not twice as many', async () => {
    let calls = 0;
    const { eachBatch, dlq } = await start(async () => {
      calls += 1;
      throw new TypeError('a bug');
    }, { isolateAfterFailures: 3 });
    await eachBatch(batchPayload(topic, 0, validMessages(7, 1)));
    expect(calls).toBe(3);
    expect(headerValue(dlq.sent()[0]!.message.headers, DLQ_HEADERS.sourceOffset)).toBe('7');
  });

  it('stays running (for readiness) while kafkajs restarts after a crash; stops and reports when it will not', async () => {
    const fatal = jest.fn();
    const { consumer, handle } = await start(async () => undefined, { onFatalError: fatal });
    consumer.emit(consumer.events.CRASH, { error: new Error('rebalance failed'), restart: true });
    expect(handle.isRunning()).toBe(true);
    expect(fatal).not.toHaveBeenCalled();
    consumer.emit(consumer.events.CRASH, { error: new Error('gave up'), restart: false });
    expect(handle.isRunning()).toBe(false);
    expect(fatal).toHaveBeenCalledWith(expect.objectContaining({ message: 'gave up' }));
    expect(handle.stats().lastError).toBe('gave up');
  });
});

describe('decodeMessage', () => {
  it('reads a record whose headers carry no value (null) normally', () => {
    const message = kafkaMessage(0, session(0), 'w_1', { 'x-no-value': null as unknown as string, traceparent });
    const decoded = decodeMessage(topic, 0, message, TOPICS.visitorSessions.schema);
    expect(decoded.failure).toBeUndefined();
    expect(decoded.record).toMatchObject({ headers: { traceparent }, traceparent });
  });
  it('turns anything that throws while reading a record into a DLQ failure instead of throwing', () => {
    const message = kafkaMessage(0, session(0), 'w_1');
    Object.defineProperty(message, 'headers', { get: () => { throw new TypeError('unreadable header'); } });
    expect(decodeMessage(topic, 0, message, TOPICS.visitorSessions.schema).failure).toEqual({ reason: 'invalid_json', error: 'record could not be read: unreadable header' });
  });
});

describe('isTransientError', () => {
  const named = (name: string, extra: object = {}) => Object.assign(new Error(name), { name, ...extra });
  it('says "try again later" for unreachable databases and brokers only', () => {
    expect(isTransientError(named('MongoNetworkError'))).toBe(true);
    expect(isTransientError(named('MongoServerSelectionError'))).toBe(true);
    expect(isTransientError(named('MongoServerError', { errorLabels: new Set(['RetryableWriteError']) }))).toBe(true);
    expect(isTransientError(named('KafkaJSConnectionError'))).toBe(true);
    expect(isTransientError(named('KafkaUnavailableError'))).toBe(true);
    expect(isTransientError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:27017'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isTransientError(new RetryLaterError('lost a compare-and-set race'))).toBe(true);
    class ConflictError extends RetryLaterError {
      override name = 'ConflictError';
    }
    expect(isTransientError(new ConflictError('3 records changed concurrently'))).toBe(true);
    expect(isTransientError(new Error('batch failed', { cause: named('MongoNetworkTimeoutError') }))).toBe(true);

    expect(isTransientError(named('MongoServerError', { code: 10107 }))).toBe(true); // not primary (an election)
    expect(isTransientError(named('MongoServerError', { code: 1 }))).toBe(true); // an internal server error
    expect(isTransientError(named('MongoBulkWriteError', { code: 11600 }))).toBe(true); // interrupted at shutdown

    expect(isTransientError(named('MongoServerError', { code: 2 }))).toBe(false); // BadValue: about the document itself
    expect(isTransientError(named('MongoBulkWriteError', { code: 10334 }))).toBe(false); // document too large
    expect(isTransientError(named('MongoInvalidArgumentError'))).toBe(false); // a driver-side programming error
    expect(isTransientError(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBe(false);
    expect(isTransientError(new Error('invariant: refunded exceeds gross'))).toBe(false);
    expect(isTransientError('a string')).toBe(false);
  });

  it('reads the RetryableWriteError label on any error (Set or array), and every record-specific MongoDB code', () => {
    expect(isTransientError(Object.assign(new Error('write failed'), { errorLabels: new Set(['RetryableWriteError']) }))).toBe(true);
    expect(isTransientError(Object.assign(new Error('write failed'), { errorLabels: ['RetryableWriteError'] }))).toBe(true);
    expect(isTransientError(Object.assign(new Error('write failed'), { errorLabels: ['TransientTransactionError'] }))).toBe(false);
    for (const code of [2, 9, 14, 10334, 17280, 17419]) expect([code, isTransientError(named('MongoServerError', { code }))]).toEqual([code, false]);
  });
});

describe('trace context of handler calls', () => {
  const TRACE_ID = traceparent.split('-')[1]!;
  const logged = () => createCapturingLogger({ service: 't' });

  it('a batch whose records share one traceparent runs in that trace: its log lines and what it produces carry it', async () => {
    const { lines, logger } = logged();
    const produced: Record<string, unknown>[] = [];
    const { eachBatch } = await start(async () => {
      await Promise.resolve();
      logger.info('handling');
      produced.push(injectTraceparent({}));
    });
    await eachBatch(batchPayload(topic, 0, [kafkaMessage(1, session(1), 'w_1', { traceparent: Buffer.from(traceparent) })], '2'));
    expect(lines[0]).toMatchObject({ msg: 'handling', trace_id: TRACE_ID });
    expect(lines[0]!.span_id).not.toBe(traceparent.split('-')[2]);
    expect(String(produced[0]!.traceparent)).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
  });

  it('the consumer\'s own log lines name the records\' traces: a DLQ line its record\'s, a mixed batch (debug) all of them', async () => {
    const { lines, logger } = createCapturingLogger({ service: 't', level: 'debug' });
    const { eachBatch } = await start(async () => undefined, { logger });
    await eachBatch(batchPayload(topic, 0, [
      kafkaMessage(1, Buffer.from('{not json'), 'w_1', { traceparent: Buffer.from(traceparent) }),
      kafkaMessage(2, session(2), 'w_1', { traceparent: Buffer.from(traceparent) }),
      kafkaMessage(3, session(3), 'w_1'),
    ], '4'));
    expect(lines.find((l) => l.msg === 'record sent to DLQ')).toMatchObject({ offset: '1', record_trace_id: TRACE_ID });
    expect(lines.find((l) => l.msg === 'handler call covers records of several traces')).toMatchObject({ records: 2, record_trace_ids: [TRACE_ID] });
  });

  it('a batch of records from several traces (or none) gets a trace of its own', async () => {
    const { lines, logger } = logged();
    const { eachBatch } = await start(async () => logger.info('handling'));
    await eachBatch(batchPayload(topic, 0, [kafkaMessage(1, session(1), 'w_1', { traceparent: Buffer.from(traceparent) }), kafkaMessage(2, session(2), 'w_1')], '3'));
    await eachBatch(batchPayload(topic, 0, [kafkaMessage(3, session(3), 'w_1')], '4'));
    const ids = lines.map((l) => l.trace_id);
    expect(ids).toHaveLength(2);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(ids).not.toContain(TRACE_ID);
    expect(ids[0]).not.toBe(ids[1]);
  });
});
