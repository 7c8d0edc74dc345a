import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { commonEnvSchema } from '@metrivo/observability';
import { Command } from 'commander';
import type { Db } from 'mongodb';
import { z } from 'zod';
import { AuditLog } from '../audit';
import { cliActor, loadCliEnv, mongoOpener, runCommand } from './common';
import { passwordProblem } from '../auth/passwords';
import { SessionStore } from '../auth/session-store';
import { normalizeStaffEmail, StaffStore } from '../auth/staff-store';

/**
 * Staff accounts (no sign-up page on purpose):
 *   npm run staff -w @metrivo/admin -- create --email jane@metrivo.example --name "Jane Doe"
 *   npm run staff -w @metrivo/admin -- set-password --email jane@metrivo.example
 *   npm run staff -w @metrivo/admin -- disable|enable --email jane@metrivo.example
 *   npm run staff -w @metrivo/admin -- list
 * The password is read from stdin when it is piped (`printf '%s' "$PW" | npm run staff …`), else
 * prompted for twice without echo. It never appears in argv, where `ps` and shell history would see it.
 */

const cliEnvSchema = commonEnvSchema.pick({ MONGODB_URI: true }).extend({ MONGODB_DB: z.string().min(1).default('metrivo') });

export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Asks each question in turn on one terminal interface, without echoing the answers. */
function promptHidden(io: CliIo, questions: string[]): Promise<string[]> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (!muted) io.stderr.write(chunk);
      cb();
    },
  });
  const rl = createInterface({ input: io.stdin, output, terminal: true });
  const ask = (question: string) =>
    new Promise<string>((resolve) => {
      muted = false;
      rl.question(question, (answer) => {
        muted = false;
        io.stderr.write('\n');
        resolve(answer);
      });
      muted = true;
    });
  return (async () => {
    const answers: string[] = [];
    try {
      for (const q of questions) answers.push(await ask(q));
    } finally {
      rl.close();
    }
    return answers;
  })();
}

export async function readPassword(io: CliIo): Promise<string> {
  if (!io.stdin.isTTY) return readAll(io.stdin);
  const [first, second] = await promptHidden(io, ['Password: ', 'Repeat password: ']);
  if (first !== second) throw new Error('the passwords do not match');
  return first ?? '';
}

export function buildStaffCli(openDb: () => Promise<{ db: Db; close: () => Promise<void> }>, io: CliIo): Command {
  const program = new Command('staff').description('Manage Metrivo admin staff accounts').exitOverride();
  program.configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

  const withDb = async (fn: (db: Db) => Promise<void>) => {
    const { db, close } = await openDb();
    try {
      await new StaffStore(db).ensureIndexes();
      await fn(db);
    } finally {
      await close();
    }
  };
  const validPassword = async () => {
    const password = await readPassword(io);
    const problem = passwordProblem(password);
    if (problem) throw new Error(`password ${problem}`);
    return password;
  };

  program
    .command('create')
    .description('create a staff account (password from stdin or a prompt)')
    .requiredOption('--email <email>', 'login email')
    .requiredOption('--name <name>', 'display name')
    .action(async (opts: { email: string; name: string }) => {
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(opts.email.trim())) throw new Error('--email must be an email address');
      if (!opts.name.trim()) throw new Error('--name must not be empty');
      const password = await validPassword();
      await withDb(async (db) => {
        const staff = await new StaffStore(db).create({ email: opts.email, name: opts.name, password });
        await new AuditLog(db).record({ actor: cliActor(), ip: null, action: 'staff.create', target: { type: 'staff', id: staff._id }, websiteId: null, details: { email: staff.email } });
        io.stdout.write(`created staff ${staff._id} <${staff.email}>\n`);
      });
    });

  program
    .command('set-password')
    .description('set a new password (ends the account\'s sessions)')
    .requiredOption('--email <email>', 'login email')
    .action(async (opts: { email: string }) => {
      const password = await validPassword();
      await withDb(async (db) => {
        const staff = await new StaffStore(db).setPassword(opts.email, password);
        if (!staff) throw new Error(`no staff account for ${normalizeStaffEmail(opts.email)}`);
        // setPassword bumped the account's credentialsVersion, which is what refuses older sessions (also one a
        // concurrent login saves after this delete); deleting them just keeps the collection clean.
        await new SessionStore(db, 1).deleteForStaff(staff._id);
        await new AuditLog(db).record({ actor: cliActor(), ip: null, action: 'staff.password.set', target: { type: 'staff', id: staff._id }, websiteId: null, details: { email: staff.email } });
        io.stdout.write(`password changed for ${staff.email}; existing sessions ended\n`);
      });
    });

  for (const [name, disabled] of [['disable', true], ['enable', false]] as const) {
    program
      .command(name)
      .description(disabled ? 'block logins and end the account\'s sessions' : 'allow logins again')
      .requiredOption('--email <email>', 'login email')
      .action(async (opts: { email: string }) => {
        await withDb(async (db) => {
          const staff = await new StaffStore(db).setDisabled(opts.email, disabled);
          if (!staff) throw new Error(`no staff account for ${normalizeStaffEmail(opts.email)}`);
          // As for set-password: the disabled flag and the version bump refuse the sessions, the delete tidies up.
          const ended = disabled ? await new SessionStore(db, 1).deleteForStaff(staff._id) : 0;
          await new AuditLog(db).record({ actor: cliActor(), ip: null, action: disabled ? 'staff.disable' : 'staff.enable', target: { type: 'staff', id: staff._id }, websiteId: null, details: { email: staff.email } });
          io.stdout.write(`${staff.email} ${disabled ? `disabled (${ended} sessions ended)` : 'enabled'}\n`);
        });
      });
  }

  program
    .command('list')
    .description('list staff accounts')
    .action(async () => {
      await withDb(async (db) => {
        for (const s of await new StaffStore(db).list()) {
          io.stdout.write(`${s._id}\t${s.email}\t${s.name}\t${s.disabledAt ? 'disabled' : 'active'}\n`);
        }
      });
    });
  return program;
}

export async function runStaffCli(argv: string[], io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const config = loadCliEnv(cliEnvSchema, env);
  return (await runCommand('staff', buildStaffCli(mongoOpener(config), io), argv, io.stderr)) ?? 0;
}

if (require.main === module) {
  void runStaffCli(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }).then((code) => process.exit(code));
}
