// `npm start`: the whole system on one machine. Starts the local infrastructure (whatever is not
// already running), then the four apps with prefixed logs. Ctrl-C stops the apps (SIGTERM → their
// graceful shutdown) and then the infrastructure this command started.
import { join } from 'node:path';
import concurrently from 'concurrently';
import { infraDown, infraUp } from '../infra/local/launcher';
import { ensureDevSecrets } from './dev-secrets';

const root = join(__dirname, '..');

async function main(): Promise<void> {
  const infra = await infraUp({ log: (line) => console.log(`[infra] ${line}`) });
  const env = {
    ...ensureDevSecrets(),
    // Explicit environment wins over generated development values.
    ...process.env,
    KAFKA_BROKERS: infra.kafkaBrokers.join(','),
    MONGODB_URI: infra.mongodbUri,
  };
  const apps = ['gateway', 'attribution', 'ledger', 'admin'];
  const { result, commands } = concurrently(
    apps.map((app) => ({ name: app, command: `npx tsx --conditions=metrivo-source apps/${app}/src/main.ts`, env, cwd: root })),
    { prefix: '[{name}]', prefixColors: ['cyan', 'magenta', 'green', 'yellow'], killOthersOn: ['failure'], killSignal: 'SIGTERM' },
  );
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping apps…');
    for (const c of commands) c.kill('SIGTERM');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await result.catch(() => undefined);
  if (infra.started.length) {
    console.log(`stopping infrastructure started by npm start: ${infra.started.join(', ')}`);
    await infraDown(infra.started);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
