import { KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, type Kafka } from 'kafkajs';
import { fetchPartitionOffsets, isRetriableKafkaError } from './offsets';

function protocolError(type: string, retriable: boolean): KafkaJSProtocolError {
  return new KafkaJSProtocolError({ type, code: 6, retriable, message: `${type} from the broker` } as never);
}

/** A kafka whose admins answer ListOffsets with `failures` errors first, then with real-looking offsets. */
function fakeKafka(failures: unknown[]) {
  const calls = { admins: 0, disconnects: 0 };
  const kafka = {
    admin() {
      calls.admins += 1;
      return {
        connect: async () => undefined,
        disconnect: async () => {
          calls.disconnects += 1;
        },
        fetchTopicOffsets: async () => {
          const failure = failures.shift();
          if (failure) throw failure;
          return [
            { partition: 0, offset: '7', high: '7', low: '2' },
            { partition: 1, offset: '3', high: '3', low: '0' },
          ];
        },
      };
    },
  } as unknown as Kafka;
  return { kafka, calls };
}

describe('isRetriableKafkaError', () => {
  it('follows kafkajs retriable flags, also through a wrapping error', () => {
    const notLeader = protocolError('NOT_LEADER_FOR_PARTITION', true);
    expect(isRetriableKafkaError(notLeader)).toBe(true);
    expect(isRetriableKafkaError(new KafkaJSNumberOfRetriesExceeded(notLeader as never, { retryCount: 5, retryTime: 100 }))).toBe(true);
    expect(isRetriableKafkaError(protocolError('TOPIC_AUTHORIZATION_FAILED', false))).toBe(false);
    expect(isRetriableKafkaError(new KafkaJSNonRetriableError('Invalid topic'))).toBe(false);
    expect(isRetriableKafkaError(new Error('boom'))).toBe(false);
    expect(isRetriableKafkaError(undefined)).toBe(false);
  });
});

describe('fetchPartitionOffsets', () => {
  it('asks again, with a new admin, while the leader is not serving yet', async () => {
    const { kafka, calls } = fakeKafka([protocolError('NOT_LEADER_FOR_PARTITION', true), protocolError('LEADER_NOT_AVAILABLE', true)]);
    await expect(fetchPartitionOffsets(kafka, 'topic')).resolves.toEqual([
      { partition: 0, low: '2', high: '7' },
      { partition: 1, low: '0', high: '3' },
    ]);
    expect(calls.admins).toBe(3);
    expect(calls.disconnects).toBe(3);
  });

  it('fails at once on a non-retriable answer', async () => {
    const denied = protocolError('TOPIC_AUTHORIZATION_FAILED', false);
    const { kafka, calls } = fakeKafka([denied]);
    await expect(fetchPartitionOffsets(kafka, 'topic')).rejects.toBe(denied);
    expect(calls.admins).toBe(1);
  });

  it('gives up with the last error once the deadline has passed', async () => {
    const failures = Array.from({ length: 50 }, () => protocolError('NOT_LEADER_FOR_PARTITION', true));
    const { kafka } = fakeKafka(failures);
    await expect(fetchPartitionOffsets(kafka, 'topic', 200)).rejects.toMatchObject({ type: 'NOT_LEADER_FOR_PARTITION' });
  });
});
