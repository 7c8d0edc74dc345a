// Creates every catalog topic (idempotent). Used by docker-compose's `topics` service and by operators:
//   KAFKA_BROKERS=host:9092 node packages/kafka/dist/provision-cli.js
import { createKafka } from './client';
import { provisionTopics } from './provision';

async function main(): Promise<void> {
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim()).filter(Boolean);
  const kafka = createKafka({ brokers, clientId: 'metrivo-provision' });
  const result = await provisionTopics(kafka);
  console.log(JSON.stringify(result));
}

main().catch((err: unknown) => {
  console.error('topic provisioning failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
