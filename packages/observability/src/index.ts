export { createLogger, REDACT_PATHS } from './logger';
export type { Logger, LoggerConfig } from './logger';
export { startTelemetry } from './telemetry';
export type { Telemetry, TelemetryConfig, TelemetryExporter } from './telemetry';
export { healthzHandler, readyzHandler, readiness } from './health';
export type { HealthOptions, ReadinessCheck } from './health';
export { ShutdownManager } from './shutdown';
export type { ShutdownStep } from './shutdown';
export { commonEnvSchema, loadEnv, exitOnEnvError, EnvError } from './env';
