// Stops only what jest/global-setup.ts started; services that were already running are left running.
// METRIVO_INFRA_KEEP=1 keeps everything running (faster re-runs; stop with `npm run infra:down`).
import { infraDown } from '../infra/local/launcher';

export default async function globalTeardown(): Promise<void> {
  const started = globalThis.__METRIVO_INFRA_STARTED__ ?? [];
  globalThis.__METRIVO_INFRA_STARTED__ = undefined;
  if (started.length === 0) return;
  if (process.env.METRIVO_INFRA_KEEP === '1') {
    process.stderr.write(`[infra] METRIVO_INFRA_KEEP=1: leaving ${started.join(', ')} running\n`);
    return;
  }
  await infraDown(started, { log: (line) => process.stderr.write(`[infra] ${line}\n`) });
}
