// `npm start`: the whole system on one machine. Starts the local infrastructure (whatever is not
// already running), then the four apps with prefixed logs. Ctrl-C stops the apps (SIGTERM → their
// graceful shutdown) and then the infrastructure this command started.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import concurrently from 'concurrently';
import { infraDown, infraUp } from '../infra/local/launcher';

const root = join(__dirname, '..');

/** Development secrets, generated once per checkout and kept in the ignored .local folder. */
function devSecrets(): Record<string, string> {
  const file = join(root, '.local', 'dev-secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  mkdirSync(join(root, '.local'), { recursive: true });
  const secrets = {
    METRIVO_EMAIL_HASH_KEY: randomBytes(32).toString('hex'),
    METRIVO_SECRET_KEYS: `dev1:${randomBytes(32).toString('base64')}`,
    METRIVO_ADMIN_TOKEN: randomBytes(24).toString('base64url'),
  };
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return secrets;
}

async function main(): Promise<void> {
  const infra = await infraUp({ log: (line) => console.log(`[infra] ${line}`) });
  const env = {
    ...devSecrets(),
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
