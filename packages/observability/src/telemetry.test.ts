import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

// A real process per case: whether a module was loaded is a property of the process, not of jest's registry.
async function probe(exporter: string): Promise<{ sdkLoaded: boolean; metricsExported: boolean }> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(__dirname, 'test-support', 'telemetry-probe.ts'), exporter], {
    cwd: join(__dirname, '..', '..', '..'),
    env: { ...process.env, OTEL_SDK_DISABLED: '' },
    timeout: 30_000,
  });
  const line = stdout.split('\n').find((l) => l.startsWith('PROBE '));
  if (!line) throw new Error(`no PROBE line in the probe's output:\n${stdout}`);
  return JSON.parse(line.slice('PROBE '.length)) as { sdkLoaded: boolean; metricsExported: boolean };
}

describe('startTelemetry', () => {
  it('exporter none: the OpenTelemetry SDK is never loaded (it costs every app and CLI start ≈ 0.4 s)', async () => {
    expect(await probe('none')).toEqual({ sdkLoaded: false, metricsExported: false });
  });

  it('exporter console: the SDK is loaded on demand, starts (metrics go to its meter provider) and shuts down', async () => {
    expect(await probe('console')).toEqual({ sdkLoaded: true, metricsExported: true });
  });
});
