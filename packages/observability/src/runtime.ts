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

/** What runApp hands an app's start function. */
export interface StartHooks {
  /**
   * The app calls it as soon as its ShutdownManager exists, before it opens anything: a SIGTERM/SIGINT during the
   * rest of the start then runs the steps registered so far (the app registers each as its resource comes up) and
   * exits, instead of the signal killing the process with MongoDB and Kafka connections open.
   */
  onShutdownManager?: (shutdown: ShutdownManager) => void;
}

/**
 * The body of every app's `if (require.main === module)`: load and validate the config (a readable message and
 * exit 1 when it is wrong), start, exit 1 when the start fails. SIGTERM/SIGINT are handled from before the start:
 * during it, they run the shutdown steps registered so far and exit (0 within the deadline), without waiting for the
 * start, which runs on until the process exits (its closed clients make it fail). An app that does not pass its ShutdownManager through `hooks` is stopped once its start is done.
 */
export function runApp<C>(
  name: string,
  loadConfig: () => C,
  start: (config: C, hooks: StartHooks) => Promise<{ shutdown: ShutdownManager }>,
): void {
  let config: C;
  try {
    config = loadConfig();
  } catch (err) {
    exitOnEnvError(err);
  }
  let manager: ShutdownManager | undefined;
  let signal: NodeJS.Signals | undefined;
  // Until start settles, a listener of our own: without one, the signal's default action kills the process
  // mid-start. Once the app hands over its manager, the manager's handlers stop it.
  const duringStart = (received: NodeJS.Signals) => {
    signal ??= received;
  };
  const adopt = (shutdown: ShutdownManager) => {
    if (manager) return;
    manager = shutdown;
    shutdown.installSignalHandlers();
    if (signal) shutdown.shutdownAndExit(signal);
  };
  const startDone = () => {
    process.removeListener('SIGTERM', duringStart);
    process.removeListener('SIGINT', duringStart);
  };
  process.on('SIGTERM', duringStart);
  process.on('SIGINT', duringStart);
  start(config, { onShutdownManager: adopt })
    .then(({ shutdown }) => {
      startDone();
      adopt(shutdown);
    })
    .catch((err: unknown) => {
      startDone();
      // The signal's shutdown closed what the start was using, which is likely why it failed: that shutdown exits.
      if (signal && manager) return;
      console.error(`${name} failed to start:`, err instanceof Error ? err.message : err);
      process.exit(1);
    });
}
