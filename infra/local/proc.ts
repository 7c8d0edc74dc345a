// Process, file and port helpers for the launcher (Linux/macOS).
import { spawn, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { lastLines } from './config';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class MissingToolError extends Error {
  override name = 'MissingToolError';
}

/** Absolute path of an executable on PATH, or undefined. */
export function which(cmd: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (cmd.includes('/')) return isExecutable(cmd) ? cmd : undefined;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    const st = fs.statSync(p);
    if (!st.isFile()) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `which` that fails with a message naming the tool and what it is needed for. */
export function requireTool(cmd: string, neededFor: string, hint: string): string {
  const p = which(cmd);
  if (!p) throw new MissingToolError(`"${cmd}" was not found on PATH; it is needed to ${neededFor}. ${hint}`);
  return p;
}

export function readTail(file: string, n = 30): string[] {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const len = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
      return lastLines(buf.toString('utf8'), n);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return [];
  }
}

export function tailBlock(file: string, n = 30): string {
  const lines = readTail(file, n);
  if (lines.length === 0) return `(${file} is empty or missing)`;
  return `last ${lines.length} lines of ${file}:\n${lines.map((l) => `  | ${l}`).join('\n')}`;
}

/** Keeps one previous log: `x.log` -> `x.log.1`. */
export function rotateLog(file: string): void {
  try {
    if (fs.statSync(file).size > 0) fs.renameSync(file, `${file}.1`);
  } catch {
    /* no previous log */
  }
}

// ---------------------------------------------------------------------------------------------
// pid files

export function readPidFile(file: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export function writePidFile(file: string, pid: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${pid}\n`);
}

export function removeFile(file: string): void {
  fs.rmSync(file, { force: true });
}

/** Alive and not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
  } catch {
    /* no /proc (macOS): kill(0) is all we have */
  }
  return true;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * True when `pid` is alive and (where /proc exists) its command line contains `marker`.
 *
 * A process in the middle of execve() reads as an empty command line for a moment (the kernel has installed the new
 * address space but not yet its arguments), and a server we just started may exec more than once (`env` → `bash` →
 * the server, as a wrapper script named mongod does). Taking that moment for "not ours" made the launcher give up on
 * a server that was starting fine (and drop its pid file), so an empty line is read again for up to ~200 ms; only a
 * process that stays empty (a kernel thread) is not ours.
 */
export function isOurProcess(pid: number, marker: string): boolean {
  for (let attempt = 0; ; attempt++) {
    if (!isAlive(pid)) return false;
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      // with /proc: gone since kill(0); without /proc (macOS): kill(0) is all we have
      return !fs.existsSync('/proc/self/cmdline');
    }
    if (cmdline !== '') return cmdline.replace(/\0/g, ' ').includes(marker);
    if (attempt >= 200) return false;
    Atomics.wait(pause, 0, 0, 1); // synchronous 1 ms pause: callers are synchronous
  }
}

/** pid from the pid file if that process is still ours; removes stale pid files. */
export function livePid(pidFile: string, marker: string): number | undefined {
  const pid = readPidFile(pidFile);
  if (pid === undefined) return undefined;
  if (isOurProcess(pid, marker)) return pid;
  removeFile(pidFile);
  return undefined;
}

export interface DetachedProcess {
  pid: number;
  /** set once the process exits (while this launcher still runs) */
  exited: () => { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

/**
 * While waiting for a server we started to become healthy: undefined while it still runs (`stillOurs`), else how it
 * ended, for the error message (" with 100", " with SIGKILL", or "" when the exit never arrived). kill(0) and /proc can
 * show it dead (a zombie) before Node has reaped it and emitted 'exit', so a gone process's exit is waited for up to
 * `waitMs`.
 */
export async function endedDuringStartup(
  exited: DetachedProcess['exited'] | undefined,
  stillOurs: () => boolean,
  waitMs = 1000,
): Promise<string | undefined> {
  if (exited?.() === undefined && stillOurs()) return undefined;
  const until = Date.now() + waitMs;
  while (exited && exited() === undefined && Date.now() < until) await sleep(10);
  const ex = exited?.();
  return ex ? ` with ${ex.signal ?? ex.code}` : '';
}

/** Starts a process that outlives the launcher: own process group, output appended to `logFile`. */
export function spawnDetached(cmd: string, args: string[], opts: { cwd: string; logFile: string; env?: NodeJS.ProcessEnv }): DetachedProcess {
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const fd = fs.openSync(opts.logFile, 'a');
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  try {
    const so: SpawnOptions = { cwd: opts.cwd, detached: true, stdio: ['ignore', fd, fd], env: opts.env ?? process.env };
    const child = spawn(cmd, args, so);
    if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
    child.on('exit', (code, signal) => {
      exit = { code, signal };
    });
    child.on('error', () => {
      exit = exit ?? { code: -1, signal: null };
    });
    child.unref();
    return { pid: child.pid, exited: () => exit };
  } finally {
    fs.closeSync(fd);
  }
}

/** Runs a command to completion, output to `logFile`; rejects with the log tail on failure. */
export function runToLog(
  cmd: string,
  args: string[],
  opts: { cwd: string; logFile: string; env?: NodeJS.ProcessEnv; what: string; append?: boolean },
): Promise<void> {
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const fd = fs.openSync(opts.logFile, opts.append ? 'a' : 'w');
  return new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', fd, fd], env: opts.env ?? process.env });
    fs.closeSync(fd);
    child.on('error', (e) => reject(new Error(`${opts.what}: could not run ${cmd}: ${e.message}`)));
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${opts.what} failed (${cmd} exited with ${signal ?? code})\n${tailBlock(opts.logFile, 25)}`));
    });
  });
}

/** Runs a command and returns its stdout (stderr to the error on failure). */
export function runCapture(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; what: string }): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new Error(`${opts.what}: could not run ${cmd}: ${e.message}`)));
    child.on('exit', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else {
        const msg = lastLines(Buffer.concat(err).toString('utf8'), 20).join('\n');
        reject(new Error(`${opts.what} failed (${cmd} exited with ${signal ?? code}):\n${msg}`));
      }
    });
  });
}

/** SIGTERM to the process group, SIGKILL after `deadlineMs`; resolves once the process is gone. */
export async function terminate(pid: number, deadlineMs: number): Promise<'terminated' | 'killed' | 'gone'> {
  if (!isAlive(pid)) return 'gone';
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig); // detached => it leads its own process group
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal('SIGTERM');
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (!isAlive(pid)) return 'terminated';
    await sleep(200);
  }
  signal('SIGKILL');
  const hardUntil = Date.now() + 10_000;
  while (isAlive(pid) && Date.now() < hardUntil) await sleep(100);
  if (isAlive(pid)) throw new Error(`process ${pid} survived SIGKILL`);
  return 'killed';
}

// ---------------------------------------------------------------------------------------------
// ports

/** True if something accepts TCP connections on host:port. */
export function tcpAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True if we could bind host:port right now. */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export async function waitPortFree(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await portFree(host, port)) return true;
    if (Date.now() >= until) return false;
    await sleep(200);
  }
}

// ---------------------------------------------------------------------------------------------
// lock (one launcher at a time per service, across processes)

/**
 * Runs `fn` holding a directory lock. A lock whose owner process is gone is taken over; a live owner
 * is waited for (it is probably resolving jars or building FerretDB) up to `waitMs`.
 */
export async function withLock<T>(lockDir: string, waitMs: number, onWait: (owner: number) => void, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(path.dirname(lockDir), { recursive: true });
  const ownerFile = path.join(lockDir, 'owner');
  const until = Date.now() + waitMs;
  let told = false;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(ownerFile, `${process.pid}\n`);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = readPidFile(ownerFile);
      if (owner === undefined) {
        // Owner may be between mkdir and write: only a lock older than a few seconds is stale.
        let age = 0;
        try {
          age = Date.now() - fs.statSync(lockDir).mtimeMs;
        } catch {
          continue;
        }
        if (age > 5000) fs.rmSync(lockDir, { recursive: true, force: true });
      } else if (!isAlive(owner)) {
        fs.rmSync(lockDir, { recursive: true, force: true });
        continue;
      } else if (!told) {
        onWait(owner);
        told = true;
      }
      if (Date.now() >= until) throw new Error(`timed out waiting for lock ${lockDir} (held by pid ${owner ?? '?'})`);
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
}
