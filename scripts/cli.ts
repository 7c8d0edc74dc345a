// Argument handling shared by the operator scripts (dlq, skip-backlog, simulate, demo), as apps/ledger/src/cli.ts
// does it: a wrong option or value prints what is wrong and the usage on stderr and exits 2 (bad usage) — never a
// stack trace — so that an operator sees how to call the script and a wrapper can tell bad usage from a failure.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface Cli {
  /** node:util parseArgs; its errors (unknown option, missing value, unexpected argument) are usage errors. */
  parse<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>>;
  /** --help: the usage on stdout, exit 0. */
  help(): never;
  /** The problem and the usage on stderr, exit 2. */
  fail(problem: string): never;
  positiveInteger(name: string, value: string | undefined): number;
  positiveNumber(name: string, value: string | undefined): number;
  integer(name: string, value: string | undefined): number;
  oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T;
}

function isParseArgsError(err: unknown): err is Error {
  return err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS');
}

export function cli(usage: string): Cli {
  const text = `${usage.trimEnd()}\n`;
  const fail = (problem: string): never => {
    process.stderr.write(`${problem}\n\n${text}`);
    process.exit(2);
  };
  // Number('') is 0 and Number(' 7 ') is 7: only plain decimal text counts.
  const numeric = (value: string | undefined): number => (value !== undefined && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN);
  return {
    parse<T extends ParseArgsConfig>(config: T) {
      try {
        return parseArgs(config);
      } catch (err) {
        if (isParseArgsError(err)) return fail(err.message);
        throw err;
      }
    },
    help(): never {
      process.stdout.write(text);
      process.exit(0);
    },
    fail,
    positiveInteger(name, value) {
      const n = numeric(value);
      return Number.isSafeInteger(n) && n > 0 ? n : fail(`--${name} must be a positive whole number, got "${value}"`);
    },
    positiveNumber(name, value) {
      const n = numeric(value);
      return Number.isFinite(n) && n > 0 ? n : fail(`--${name} must be a positive number, got "${value}"`);
    },
    integer(name, value) {
      const n = numeric(value);
      return Number.isSafeInteger(n) ? n : fail(`--${name} must be a whole number, got "${value}"`);
    },
    oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
      return (allowed as readonly string[]).includes(value) ? (value as T) : fail(`${name} must be one of ${allowed.join(', ')}; got "${value}"`);
    },
  };
}

/** Runs the script's work: a failure (Kafka or an app unreachable, …) is one line on stderr and exit 1. */
export function runMain(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`✖ ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
