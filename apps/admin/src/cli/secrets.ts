import { parseKeyring, type Keyring } from '@metrivo/crypto';
import { IntegrationStore, resealSecrets } from '@metrivo/integration-store';
import { Command } from 'commander';
import type { Db } from 'mongodb';
import { AuditLog } from '../audit';
import { cliActor, loadCliEnv, mongoOpener, runCommand } from './common';
import { adminEnvSchema } from '../env';

/**
 * Key rotation for the stored signing secrets (README "Rotating METRIVO_SECRET_KEYS"):
 *   npm run secrets -w @metrivo/admin -- reseal [--dry-run]
 * re-seals every secret that still verifies under the active (first) key of METRIVO_SECRET_KEYS and drops
 * expired ones. It exits 0 only when no secret that still verifies is sealed under another key, i.e. when the
 * other keys can leave METRIVO_SECRET_KEYS; `--dry-run` answers that question without writing.
 */

const cliEnvSchema = adminEnvSchema.pick({ MONGODB_URI: true, MONGODB_DB: true, METRIVO_SECRET_KEYS: true });

export interface SecretsCliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export interface ResealReport {
  integrations: number;
  resealed: number;
  pruned: number;
  unreadable: number;
  /** Integrations changed by someone else between our read and write: run again. */
  conflicts: number;
}

export async function resealAll(db: Db, keyring: Keyring, o: { dryRun: boolean; now?: Date; log: (line: string) => void }): Promise<ResealReport> {
  const store = new IntegrationStore(db);
  const audit = new AuditLog(db);
  const now = o.now ?? new Date();
  const report: ResealReport = { integrations: 0, resealed: 0, pruned: 0, unreadable: 0, conflicts: 0 };
  for await (const doc of store.collection.find({})) {
    report.integrations += 1;
    const r = resealSecrets(doc, keyring, now);
    for (const u of r.unreadable) {
      report.unreadable += 1;
      o.log(`${doc._id}: a secret sealed with key "${u.keyId}" cannot be opened (${u.reason === 'key_missing' ? 'key not in METRIVO_SECRET_KEYS' : 'it does not decrypt with that key'}): put the key back and run again, or set the secret again in admin`);
    }
    if (r.resealed === 0 && r.pruned === 0) continue;
    if (!o.dryRun && !(await store.replaceSecretsIfUnchanged(doc, r.secrets))) {
      report.conflicts += 1;
      o.log(`${doc._id}: changed while re-sealing; run again`);
      continue;
    }
    report.resealed += r.resealed;
    report.pruned += r.pruned;
    o.log(`${doc._id}: ${o.dryRun ? 'would re-seal' : 're-sealed'} ${r.resealed} secret(s) under "${keyring.activeKeyId}", ${o.dryRun ? 'would drop' : 'dropped'} ${r.pruned} expired`);
    if (!o.dryRun && r.resealed > 0) {
      await audit.record({
        actor: cliActor(), ip: null,
        action: 'integration.secrets.reseal', target: { type: 'integration', id: doc._id }, websiteId: doc.websiteId,
        details: { keyId: keyring.activeKeyId, resealed: r.resealed, pruned: r.pruned },
      });
    }
  }
  return report;
}

export function buildSecretsCli(openDb: () => Promise<{ db: Db; close: () => Promise<void> }>, keyring: Keyring, io: SecretsCliIo, setExitCode: (code: number) => void): Command {
  const program = new Command('secrets').description('Maintain the stored webhook signing secrets').exitOverride();
  program.configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  program
    .command('reseal')
    .description('re-seal every secret that still verifies under the active key of METRIVO_SECRET_KEYS (and drop expired ones)')
    .option('--dry-run', 'only report what would change')
    .action(async (opts: { dryRun?: boolean }) => {
      const dryRun = opts.dryRun === true;
      const { db, close } = await openDb();
      try {
        const r = await resealAll(db, keyring, { dryRun, log: (line) => io.stdout.write(`${line}\n`) });
        io.stdout.write(
          `${r.integrations} integrations: ${r.resealed} secret(s) ${dryRun ? 'to re-seal' : 're-sealed'} under "${keyring.activeKeyId}", ` +
            `${r.pruned} expired ${dryRun ? 'to drop' : 'dropped'}, ${r.unreadable} unreadable, ${r.conflicts} changed meanwhile\n`,
        );
        const safe = r.unreadable === 0 && r.conflicts === 0 && (!dryRun || r.resealed === 0);
        io.stdout.write(safe ? 'every secret that still verifies is sealed under the active key: older keys can be removed\n' : 'older keys are still needed\n');
        setExitCode(safe ? 0 : 1);
      } finally {
        await close();
      }
    });
  return program;
}

export async function runSecretsCli(argv: string[], io: SecretsCliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const config = loadCliEnv(cliEnvSchema, env);
  let code = 0;
  const program = buildSecretsCli(mongoOpener(config), parseKeyring(config.METRIVO_SECRET_KEYS), io, (c) => { code = c; });
  return (await runCommand('secrets', program, argv, io.stderr)) ?? code;
}

if (require.main === module) {
  void runSecretsCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then((code) => process.exit(code));
}
