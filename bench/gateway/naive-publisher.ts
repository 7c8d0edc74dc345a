import { TOPICS } from '@metrivo/contracts';
import { encodeValue, KafkaUnavailableError, schemaForTopic } from '@metrivo/kafka';
import type { Kafka } from 'kafkajs';
import type { GatewayPublisher } from '../../apps/gateway/src/main';

/**
 * The baseline the issue asks to compare against: one awaited `producer.send` (acks=-1) per request
 * with a plain kafkajs producer, no batching across requests. It validates the contract like the real
 * publisher, so the only difference measured is how records reach the broker.
 */
export function naivePublisher(kafka: Kafka): GatewayPublisher {
  const topic = TOPICS.payments.name;
  const schema = schemaForTopic(topic);
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  let connected = false;
  let failing = false;
  return {
    async connect() {
      await producer.connect();
      connected = true;
    },
    async disconnect() {
      await producer.disconnect();
      connected = false;
    },
    isHealthy: () => connected && !failing,
    async publish(events, traceparent) {
      const messages = events.map((event) => {
        const encoded = encodeValue(topic, event, schema);
        if (!encoded.ok) throw encoded.error;
        return { key: event.websiteId, value: encoded.bytes, ...(traceparent ? { headers: { traceparent } } : {}) };
      });
      try {
        await producer.send({ topic, acks: -1, messages });
        failing = false;
      } catch (err) {
        failing = true;
        throw new KafkaUnavailableError(`Kafka did not accept the record: ${(err as Error).message}`, { cause: err });
      }
    },
  };
}
