import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

// A real process (tsx as a loader, as the apps run under `npm start`) signalled while its start is in progress.
interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** `msg` of each JSON log line, in order. */
  messages: string[];
  stderr: string;
  /** From the SIGTERM to the exit. */
  exitMs: number;
}

function runSlowStart(env: Record<string, string>, signalAfterStarting: boolean): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'test-support', 'slow-start.ts')], {
    cwd: join(__dirname, '..', '..', '..'),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const messages: string[] = [];
  let stderr = '';
  let signalledAt = Date.now();
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const msg = (JSON.parse(line) as { msg: string }).msg;
    messages.push(msg);
    if (msg === 'starting' && signalAfterStarting) {
      signalledAt = Date.now();
      child.kill('SIGTERM');
    }
  });
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, messages, stderr, exitMs: Date.now() - signalledAt }));
  });
}

describe('runApp', () => {
  it('SIGTERM during start runs the shutdown steps registered so far and exits 0 without waiting for the start', async () => {
    const run = await runSlowStart({ MODE: 'early', START_MS: '20000' }, true);
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
    expect(run.messages).toEqual(['starting', 'shutting down', 'resource closed', 'shutdown step done']);
    expect(run.exitMs).toBeLessThan(10_000); // the start would have taken 20 s
  });

  it('an app that returns its ShutdownManager only at the end is stopped once its start is done', async () => {
    const run = await runSlowStart({ MODE: 'late', START_MS: '1000' }, true);
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
    expect(run.messages).toEqual(['starting', 'started', 'shutting down', 'resource closed', 'shutdown step done']);
  });

  it('a start that fails still exits 1 with its reason', async () => {
    const run = await runSlowStart({ MODE: 'fail', START_MS: '0' }, false);
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 1, signal: null });
    expect(run.stderr).toContain('slow-start failed to start: the resource refused');
  });
});
