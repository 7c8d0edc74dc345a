// Integration tests need the real Kafka broker and MongoDB server: start what is missing (infra/local),
// export where they are to the workers (they inherit process.env), remember what we started for teardown.
// KAFKA_BROKERS / MONGODB_URI already set => those are used and nothing is started for them.
import { infraUp } from '../infra/local/launcher';
import type { Service } from '../infra/local/launcher';

declare global {
  var __METRIVO_INFRA_STARTED__: Service[] | undefined;
}

export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const result = await infraUp({ log: (line) => process.stderr.write(`[infra] ${line}\n`) });
  process.env.KAFKA_BROKERS = result.kafkaBrokers.join(',');
  process.env.MONGODB_URI = result.mongodbUri;
  globalThis.__METRIVO_INFRA_STARTED__ = result.started;
  process.stderr.write(
    `[infra] KAFKA_BROKERS=${process.env.KAFKA_BROKERS} MONGODB_URI=${process.env.MONGODB_URI} ` +
      `(ready in ${Date.now() - started} ms${result.started.length ? `, started ${result.started.join(', ')}` : ''})\n`,
  );
}
