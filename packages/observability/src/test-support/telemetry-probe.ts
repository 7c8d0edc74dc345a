// Run by telemetry.test.ts in its own process: starts telemetry with the exporter named in argv[2], then prints one
// line `PROBE {"sdkLoaded":…,"metricsExported":…}`: whether the OpenTelemetry SDK was loaded, and whether a metric
// made through `meter()` reaches a real meter provider (the global one, an exporter's) rather than the API's no-op one.
import { metrics } from '@opentelemetry/api';
import { startTelemetry, type TelemetryExporter } from '../index';

async function main(): Promise<void> {
  const telemetry = startTelemetry({ serviceName: 'telemetry-probe', exporter: process.argv[2] as TelemetryExporter, metricIntervalMs: 60_000 });
  const sdkLoaded = Object.keys(require.cache).some((path) => path.includes(`${'@opentelemetry'}/sdk-node`));
  const metricsExported = metrics.getMeterProvider().constructor.name !== 'NoopMeterProvider';
  process.stdout.write(`PROBE ${JSON.stringify({ sdkLoaded, metricsExported })}\n`);
  await telemetry.shutdown();
}

void main();
