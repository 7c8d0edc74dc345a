import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ConsoleMetricExporter, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK, tracing } from '@opentelemetry/sdk-node';
import { enableTraceContext, markTracingSdkRunning } from './tracing';

export type TelemetryExporter = 'none' | 'console' | 'otlp';

export interface TelemetryConfig {
  serviceName: string;
  /** METRIVO_OTEL_EXPORTER: off by default; `otlp` honours the standard OTEL_EXPORTER_OTLP_* variables. */
  exporter: TelemetryExporter;
  metricIntervalMs?: number;
}

export interface Telemetry {
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK (traces + metrics). With exporter `none` no SDK starts and nothing is exported, but
 * trace ids still flow: requests and consumed batches get trace ids of their own (traceRequests, withSpan), which
 * reach the log lines and the Kafka headers. W3C trace context propagation is the SDK default.
 */
export function startTelemetry(config: TelemetryConfig): Telemetry {
  // The context manager only costs once something runs in a context (AsyncLocalStorage hooks start lazily).
  if (config.exporter === 'none') {
    enableTraceContext();
    return { shutdown: async () => {} };
  }
  const interval = config.metricIntervalMs ?? 15000;
  const sdk = new NodeSDK({
    serviceName: config.serviceName,
    traceExporter: config.exporter === 'otlp' ? new OTLPTraceExporter() : new tracing.ConsoleSpanExporter(),
    metricReaders: [
      new PeriodicExportingMetricReader({
        exporter: config.exporter === 'otlp' ? new OTLPMetricExporter() : new ConsoleMetricExporter(),
        exportIntervalMillis: interval,
      }),
    ],
  });
  sdk.start();
  markTracingSdkRunning();
  return { shutdown: () => sdk.shutdown() };
}
