import { exitOnEnvError } from './env';
import type { ShutdownManager } from './shutdown';

type WarnLogger = { warn(obj: object, msg: string): void };

/**
 * A background task run every `everyMs` that never overlaps itself and can be awaited at shutdown
 * (retention clean-ups, outbox sweeps). `everyMs <= 0` disables it. Failures are logged and retried
 * on the next tick.
 */
export function periodic(name: string, everyMs: number, logger: WarnLogger, task: () => Promise<unknown>): { stop(): Promise<void> } {
  if (everyMs <= 0) return { stop: async () => undefined };
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = task()
      .then(() => undefined)
      .catch((err: unknown) => logger.warn({ err, task: name }, 'background task failed; will try again'))
      .finally(() => {
        running = null;
      });
  }, everyMs);
  timer.unref();
  return {
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * The body of every app's `if (require.main === module)`: load and validate the config (a readable
 * message and exit 1 when it is wrong), start, install the SIGTERM/SIGINT handlers, exit 1 when the
 * start fails.
 */
export function runApp<C>(name: string, loadConfig: () => C, start: (config: C) => Promise<{ shutdown: ShutdownManager }>): void {
  let config: C;
  try {
    config = loadConfig();
  } catch (err) {
    exitOnEnvError(err);
  }
  start(config)
    .then(({ shutdown }) => shutdown.installSignalHandlers())
    .catch((err: unknown) => {
      console.error(`${name} failed to start:`, err instanceof Error ? err.message : err);
      process.exit(1);
    });
}
