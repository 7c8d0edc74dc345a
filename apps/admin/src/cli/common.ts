import { userInfo } from 'node:os';
import { exitOnEnvError, loadEnv } from '@metrivo/observability';
import type { Command } from 'commander';
import { MongoClient, type Db } from 'mongodb';
import type { z } from 'zod';
import type { Actor } from '../audit';

/** The audit actor of a CLI run: the operating-system user on the server. */
export const cliActor = (): Extract<Actor, { type: 'cli' }> => {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers)
  }
  return { type: 'cli', user };
};

/** Connects on first use (so `--help` and argument errors need no database) and hands back how to close. */
export const mongoOpener = (config: { MONGODB_URI: string; MONGODB_DB: string }) => async (): Promise<{ db: Db; close: () => Promise<void> }> => {
  const client = new MongoClient(config.MONGODB_URI, { serverSelectionTimeoutMS: 5000 });
  await client.connect();
  return { db: client.db(config.MONGODB_DB), close: () => client.close() };
};

/** The CLI's configuration, or a readable message and exit 1 (exitOnEnvError) when it is wrong. */
export function loadCliEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.infer<S> {
  try {
    return loadEnv(schema, env);
  } catch (err) {
    return exitOnEnvError(err);
  }
}

/** Runs a commander program: null when it succeeded, else the exit code (its own message already printed or written here). */
export async function runCommand(name: string, program: Command, argv: string[], stderr: { write(text: string): unknown }): Promise<number | null> {
  try {
    await program.parseAsync(argv, { from: 'user' });
    return null;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) return e.exitCode ?? 1; // commander already printed
    stderr.write(`${name}: ${e.message ?? String(err)}\n`);
    return 1;
  }
}
