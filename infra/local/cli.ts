// npm run infra:up | infra:down | infra:status  (tsx infra/local/cli.ts up | down [kafka|mongo ...] | status)
import * as path from 'node:path';
import { exportLine, SERVICES, type Service } from './config';
import { infraDown, infraStatus, infraUp, REPO_ROOT, type InfraServiceStatus } from './launcher';

const USAGE = `usage: tsx infra/local/cli.ts up | down [kafka|mongo ...] | status

  up      start Kafka and MongoDB unless already running/reachable, wait until healthy
  down    stop what this launcher started (all, or the services named)
  status  show what runs where

environment:
  KAFKA_BROKERS=h:p,…       use that Kafka cluster, start no broker
  MONGODB_URI=mongodb://…   use that MongoDB, start no server
  METRIVO_KAFKA_PORT (9092), METRIVO_KAFKA_CONTROLLER_PORT (9093), METRIVO_MONGO_PORT (27017)
  METRIVO_KAFKA_HEAP (768m), METRIVO_INFRA_START_TIMEOUT_MS (120000)
`;

function rel(file: string | undefined): string {
  return file ? path.relative(process.cwd(), file) || file : '';
}

function printStatus(rows: InfraServiceStatus[]): void {
  for (const r of rows) {
    const health = r.state === 'stopped' ? '' : r.healthy ? 'healthy' : 'NOT ANSWERING';
    const parts = [r.service.padEnd(5), r.state.padEnd(8), r.where];
    if (health) parts.push(`[${health}]`);
    if (r.pid !== undefined) parts.push(`pid ${r.pid}`);
    if (r.detail) parts.push(`- ${r.detail}`);
    process.stdout.write(`${parts.join('  ')}\n`);
    if (r.logFile) process.stdout.write(`       log: ${rel(r.logFile)}\n`);
  }
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const services = rest.filter((s): s is Service => (SERVICES as readonly string[]).includes(s));
  const badArgs = services.length !== rest.length || (cmd !== 'down' && rest.length > 0);
  if (badArgs || cmd === undefined || cmd === '-h' || cmd === '--help') {
    process.stderr.write(USAGE);
    return cmd === '-h' || cmd === '--help' ? 0 : 2;
  }
  switch (cmd) {
    case 'up': {
      const r = await infraUp();
      printStatus(await infraStatus());
      process.stdout.write(`\n${exportLine({ KAFKA_BROKERS: r.kafkaBrokers.join(','), MONGODB_URI: r.mongodbUri })}\n`);
      return 0;
    }
    case 'down':
      await infraDown(services.length ? services : undefined);
      return 0;
    case 'status': {
      const rows = await infraStatus();
      printStatus(rows);
      process.stdout.write(`\n(data and logs under ${rel(path.join(REPO_ROOT, '.local')) || '.local'})\n`);
      return 0;
    }
    default:
      process.stderr.write(`unknown command "${cmd}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`\n${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
