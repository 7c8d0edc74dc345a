export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 30_000, factor: 2 };

/**
 * Delay before retry number `attempt` (1 = first retry): exponential, capped, with "equal jitter":
 * half of the step is fixed (so the delay keeps growing) and half random (so many consumers that failed
 * together do not retry in lockstep against a recovering database).
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const exponent = Math.max(0, attempt - 1);
  const step = Math.min(options.maxMs, options.initialMs * options.factor ** exponent);
  return Math.round(step / 2 + random() * (step / 2));
}

/** Resolves after `ms`, or early (to false) when `signal` aborts. True when the full time elapsed. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
