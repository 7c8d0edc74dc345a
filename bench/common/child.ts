// Benchmarks run the server under test, the load and the measuring code in separate processes so that
// they never share an event loop. These helpers fork a TypeScript file and talk to it over IPC.
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

/** Forks a TypeScript file under tsx, with the workspace packages resolved to their sources. */
export function forkTs(file: string, env: NodeJS.ProcessEnv = process.env, extraExecArgv: string[] = []): ChildProcess {
  return fork(file, [], {
    execArgv: ['--import', 'tsx', '--conditions=metrivo-source', ...extraExecArgv],
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** The next IPC message of the given type from `child`; rejects if the child exits first. */
export function nextMessage<T extends { type: string }>(child: ChildProcess, type: T['type']): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (message: { type?: string }) => {
      if (message?.type !== type) return;
      cleanup();
      resolve(message as T);
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`${path.basename(String(child.spawnargs.at(-1) ?? child.spawnfile))} child exited (code ${code}, signal ${signal}) before sending "${type}"`));
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Resolves when the child has exited (immediately if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
