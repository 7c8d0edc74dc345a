export { createCapturingLogger, createLogger, REDACT_PATHS } from './logger';
export type { Logger, LoggerConfig } from './logger';
export { startTelemetry } from './telemetry';
export type { Telemetry, TelemetryConfig, TelemetryExporter } from './telemetry';
export { healthzHandler, readyzHandler, readiness } from './health';
export type { HealthOptions, ReadinessCheck } from './health';
export { ShutdownManager, shutdownPhases, type ShutdownPhase } from './shutdown';
export type { ShutdownStep, ShutdownStepContext } from './shutdown';
export { drainableHttpServer } from './http-drain';
export type { HttpDrain, HttpDrainOptions } from './http-drain';
export { commonEnvSchema, loadEnv, exitOnEnvError, EnvError } from './env';
export { periodic, runApp } from './runtime';
export type { StartHooks } from './runtime';
export {
  activeTraceId, enableTraceContext, formatTraceparent, markTracingSdkRunning, outgoingTraceHeaders, parseTraceparent, requestTrace, traceRequests, withSpan,
} from './tracing';
export type { RequestTrace, TraceRequestsOptions, WithSpanOptions } from './tracing';
export { isDatabaseUnavailable } from './database-errors';
export { countersOf, meter, observeMetrics } from './metrics';
export type { Attributes, CounterField, Meter, MeterProvider, ObservedMetric } from './metrics';
