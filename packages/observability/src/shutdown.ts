import type { Logger } from 'pino';

/**
 * When a step runs, whatever order the resources came up in: stop taking work (consumers, timers) → drain what is
 * in flight (producers flushing, HTTP servers finishing requests) → close clients → final (telemetry flush).
 */
export const shutdownPhases = ['intake', 'drain', 'close', 'final'] as const;
export type ShutdownPhase = (typeof shutdownPhases)[number];

export interface ShutdownStepContext {
  /**
   * Milliseconds left before the deadline as the step starts. A step that can cut its wait short (an HTTP drain
   * closing the connections still open) does so before then, so that the steps after it still run.
   */
  timeLeftMs: number;
}

export interface ShutdownStep {
  name: string;
  run: (context: ShutdownStepContext) => Promise<void> | void;
  phase: ShutdownPhase;
}

/**
 * One place that knows how to stop an app: readiness flips first, then named steps run by phase (and, within a
 * phase, in the order they were added), all within one deadline. A step that fails is logged and the next still
 * runs. Apps register each step as its resource comes up, so a start that fails half-way closes exactly what it
 * opened by calling shutdown() too.
 */
export class ShutdownManager {
  private readonly steps: ShutdownStep[] = [];
  private stopping: Promise<void> | null = null;
  private shuttingDown = false;
  private exitScheduled = false;
  /** A step was cut off by the deadline or skipped because of it (the exit code must not rely on the wall clock alone). */
  private deadlineMissed = false;

  constructor(
    private readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>,
    private readonly deadlineMs = 25000,
  ) {}

  add(name: string, run: ShutdownStep['run'], phase: ShutdownPhase = 'close'): this {
    this.steps.push({ name, run, phase });
    return this;
  }

  /** The steps in the order shutdown() runs them. */
  plan(): readonly ShutdownStep[] {
    return [...this.steps].sort((a, b) => shutdownPhases.indexOf(a.phase) - shutdownPhases.indexOf(b.phase));
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Runs every step once; later calls return the same promise. */
  shutdown(reason: string): Promise<void> {
    if (this.stopping) return this.stopping;
    this.shuttingDown = true;
    this.logger.info({ reason }, 'shutting down');
    this.stopping = (async () => {
      const deadline = Date.now() + this.deadlineMs;
      for (const step of this.plan()) {
        const left = deadline - Date.now();
        if (left <= 0) {
          this.deadlineMissed = true;
          this.logger.error({ step: step.name }, 'shutdown deadline passed; skipping remaining steps');
          break;
        }
        const started = Date.now();
        let timer: NodeJS.Timeout | undefined;
        // Set when the step used up the time left: the deadline has passed, whatever Date.now() says (a timer
        // may fire a millisecond before the wall clock reaches the deadline, which would let one more step start).
        let outOfTime = false;
        try {
          await Promise.race([
            Promise.resolve().then(() => step.run({ timeLeftMs: left })),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => {
                outOfTime = true;
                reject(new Error(`step did not finish within ${left} ms`));
              }, left);
            }),
          ]);
          this.logger.info({ step: step.name, ms: Date.now() - started }, 'shutdown step done');
        } catch (err) {
          this.logger.error({ step: step.name, err }, 'shutdown step failed');
        } finally {
          clearTimeout(timer);
        }
        if (outOfTime) {
          this.deadlineMissed = true;
          this.logger.error({ step: step.name }, 'shutdown deadline passed; skipping remaining steps');
          break;
        }
      }
    })();
    return this.stopping;
  }

  /** Runs the steps, then exits (1 if the deadline passed); a second call does nothing. */
  shutdownAndExit(reason: string, exit: (code: number) => void = (code) => process.exit(code)): void {
    if (this.exitScheduled) return;
    this.exitScheduled = true;
    const started = Date.now();
    // 1 when a step was cut off or skipped: its timer can fire a millisecond early, so the elapsed time alone may
    // read exactly the deadline and pass for a clean stop.
    void this.shutdown(reason).then(() => exit(this.deadlineMissed || Date.now() - started > this.deadlineMs ? 1 : 0));
  }

  /** SIGTERM and SIGINT run the steps, then exit (1 if the deadline passed). */
  installSignalHandlers(exit: (code: number) => void = (code) => process.exit(code)): void {
    const onSignal = (signal: NodeJS.Signals) => this.shutdownAndExit(signal, exit);
    // `on`, not `once`: supervisors often signal a whole process tree (npm start, tree-kill), so the same
    // process can get SIGTERM twice; with `once` the second one would kill it mid-drain.
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
}
