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
  // Loaded only when an exporter is configured: the SDK and its exporters take ≈ 0.4 s to load, which every app start
  // and every CLI (they import this package for logging and tracing) paid while the default exporter is `none`.
  /* eslint-disable @typescript-eslint/no-require-imports -- a synchronous, on-demand load (this package is CommonJS) */
  const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http') as typeof import('@opentelemetry/exporter-metrics-otlp-http');
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
  const { ConsoleMetricExporter, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics');
  const { NodeSDK, tracing } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  /* eslint-enable @typescript-eslint/no-require-imports */
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
