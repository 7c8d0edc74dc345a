import { metrics, type Attributes, type Meter, type MeterProvider, type ObservableCounter, type ObservableGauge } from '@opentelemetry/api';

/**
 * OpenTelemetry metrics of the apps. Without an exporter (METRIVO_OTEL_EXPORTER=none) no SDK runs and the global
 * meter is the API's no-op one: instruments cost a function call and nothing is kept. With `otlp`/`console` the SDK's
 * meter provider is global once startTelemetry has run — instruments must be created after it (the apps' main
 * starts telemetry first), because the metrics API has no proxy: an instrument made before stays a no-op.
 */
export function meter(name: string, provider?: MeterProvider): Meter {
  return (provider ?? metrics.getMeterProvider()).getMeter(name);
}

export type { Attributes, Meter, MeterProvider };

/** One number an app already keeps (its `/metrics` JSON), read when the SDK collects. */
export interface ObservedMetric {
  name: string;
  description: string;
  unit?: string;
  /** `counter`: a total that only grows (the backend derives rates); `gauge`: a current value (lag, a queue's length). */
  kind: 'counter' | 'gauge';
  /** The value, or one value per attribute set (e.g. lag per partition). */
  observe(): number | ReadonlyArray<{ value: number; attributes: Attributes }>;
}

/**
 * Registers observable instruments read at each collection (nothing runs on the hot path). `attributes` are added to
 * every value (e.g. the consumer group). Never unregistered: an SDK keeps exporting the last values of cumulative
 * instruments that stopped reporting anyway, and each app registers its figures once per process.
 */
export function observeMetrics(
  meterName: string,
  specs: readonly ObservedMetric[],
  options: { attributes?: Attributes; meterProvider?: MeterProvider } = {},
): void {
  const m = meter(meterName, options.meterProvider);
  const common = options.attributes ?? {};
  const instruments = specs.map((spec) => {
    const opts = { description: spec.description, ...(spec.unit ? { unit: spec.unit } : {}) };
    const instrument: ObservableCounter | ObservableGauge = spec.kind === 'counter' ? m.createObservableCounter(spec.name, opts) : m.createObservableGauge(spec.name, opts);
    return { spec, instrument };
  });
  const callback = (result: { observe(instrument: ObservableCounter | ObservableGauge, value: number, attributes?: Attributes): void }): void => {
    for (const { spec, instrument } of instruments) {
      let value: ReturnType<ObservedMetric['observe']>;
      try {
        value = spec.observe();
      } catch {
        continue; // one figure that cannot be read must not keep the others from being reported
      }
      if (typeof value === 'number') {
        if (Number.isFinite(value)) result.observe(instrument, value, common);
        continue;
      }
      for (const v of value) if (Number.isFinite(v.value)) result.observe(instrument, v.value, { ...common, ...v.attributes });
    }
  };
  m.addBatchObservableCallback(callback, instruments.map((i) => i.instrument));
}

/** `[metric name, description, the field it reads, unit]` for countersOf. */
export type CounterField<T> = readonly [name: string, description: string, read: (stats: T) => number, unit?: string];

/** Counters, each read from the app's stats object when the SDK collects. */
export function countersOf<T>(stats: () => T, fields: ReadonlyArray<CounterField<T>>): ObservedMetric[] {
  return fields.map(([name, description, read, unit]) => ({ name, description, kind: 'counter' as const, ...(unit ? { unit } : {}), observe: () => read(stats()) }));
}
