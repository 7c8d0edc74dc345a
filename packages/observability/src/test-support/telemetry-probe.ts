// Run by telemetry.test.ts in its own process: starts telemetry with the exporter named in argv[2], then prints one
// line `PROBE {"sdkLoaded":…}` saying whether the OpenTelemetry SDK was loaded, and shuts telemetry down.
import { startTelemetry, type TelemetryExporter } from '../index';

async function main(): Promise<void> {
  const telemetry = startTelemetry({ serviceName: 'telemetry-probe', exporter: process.argv[2] as TelemetryExporter, metricIntervalMs: 60_000 });
  const sdkLoaded = Object.keys(require.cache).some((path) => path.includes(`${'@opentelemetry'}/sdk-node`));
  process.stdout.write(`PROBE ${JSON.stringify({ sdkLoaded })}\n`);
  await telemetry.shutdown();
}

void main();
