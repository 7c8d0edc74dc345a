import { backoffDelayMs, sleep } from './backoff';

describe('backoffDelayMs', () => {
  const options = { initialMs: 100, maxMs: 1000, factor: 2 };

  it('doubles per attempt between half and the full step', () => {
    expect(backoffDelayMs(1, options, () => 0)).toBe(50);
    expect(backoffDelayMs(1, options, () => 1)).toBe(100);
    expect(backoffDelayMs(2, options, () => 0)).toBe(100);
    expect(backoffDelayMs(3, options, () => 1)).toBe(400);
  });

  it('never exceeds the cap, however many attempts', () => {
    for (let attempt = 1; attempt < 60; attempt += 1) {
      const d = backoffDelayMs(attempt, options, Math.random);
      expect(d).toBeGreaterThanOrEqual(Math.min(options.maxMs, 100 * 2 ** (attempt - 1)) / 2);
      expect(d).toBeLessThanOrEqual(options.maxMs);
    }
  });

  it('spreads concurrent retries (jitter)', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelayMs(4, options)));
    expect(delays.size).toBeGreaterThan(5);
  });
});

describe('sleep', () => {
  it('resolves true after the time', async () => {
    await expect(sleep(5)).resolves.toBe(true);
  });

  it('resolves false as soon as the signal aborts', async () => {
    const abort = new AbortController();
    const started = Date.now();
    const slept = sleep(10_000, abort.signal);
    abort.abort();
    await expect(slept).resolves.toBe(false);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
