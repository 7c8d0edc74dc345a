// Messages between the benchmark's three processes: the orchestrator (run.ts), the server under test
// (target.ts: bare Express, the gateway, or the naive gateway) and the load generator (load.ts).
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { exited, forkTs as forkTsFile, nextMessage } from '../common/child';

export type TargetKind = 'bare' | 'gateway' | 'naive';

export interface TargetReady {
  type: 'ready';
  port: number;
}

export interface TargetStopped {
  type: 'stopped';
  producerStats: { batchesSent: number; recordsAcknowledged: number; batchesFailed: number; recordsFailed: number; recordsTimedOut: number } | null;
}

export interface PreparePool {
  type: 'prepare';
  /** Stripe endpoint secret every pooled request is signed with (all bench integrations share it). */
  secret: string;
  poolSize: number;
}

export interface PoolReady {
  type: 'prepared';
  poolSize: number;
  averageBodyBytes: number;
  eventTypes: Record<string, number>;
  ms: number;
}

export interface RunLoad {
  type: 'run';
  target: TargetKind;
  url: string;
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
}

export interface LoadResult {
  type: 'result';
  target: TargetKind;
  /** Measured phase only. */
  requestsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; average: number; max: number };
  responses: number;
  statusCounts: Record<string, number>;
  errors: number;
  timeouts: number;
  /** Provider event ids answered 200 {"received":true}, warm-up and measured phase. */
  acceptedEventIds: string[];
  /** 200 answers that were not a plain acceptance (duplicate, ignored): should be 0. */
  otherOk: number;
  /** Requests past the end of the pre-generated pool (signed on the fly in the load process). */
  generatedOnTheFly: number;
  warmupRequestsPerSecond: number;
}

/** Forks a TypeScript file of this folder (see bench/common/child.ts). */
export function forkTs(file: string, env: NodeJS.ProcessEnv = process.env, extraExecArgv: string[] = []): ChildProcess {
  return forkTsFile(path.join(__dirname, file), env, extraExecArgv);
}

export { nextMessage, exited };
