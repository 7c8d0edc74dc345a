// A private OpenTelemetry meter provider for unit tests of metric instruments: pass `provider` where the code under
// test takes a MeterProvider, then `collect()` what a real SDK would export at that moment.
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';

class CollectOnDemand extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

/** One exported data point: instrument name, value (a histogram's sum and count) and attributes. */
export interface CollectedPoint {
  name: string;
  unit: string;
  value: number | { sum: number; count: number };
  attributes: Record<string, unknown>;
}

export function testMeterProvider(): { provider: MeterProvider; collect(): Promise<CollectedPoint[]> } {
  const reader = new CollectOnDemand();
  const provider = new MeterProvider({ readers: [reader] });
  return {
    provider,
    async collect() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw errors[0];
      const points: CollectedPoint[] = [];
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) {
          for (const p of metric.dataPoints as Array<{ value: unknown; attributes: Record<string, unknown> }>) {
            const v = p.value as number | { sum?: number; count: number };
            points.push({
              name: metric.descriptor.name,
              unit: metric.descriptor.unit,
              value: typeof v === 'number' ? v : { sum: v.sum ?? 0, count: v.count },
              attributes: p.attributes,
            });
          }
        }
      }
      return points;
    },
  };
}

/**
 * For an app that is running: collects, and checks that each named counter lies between its figure in the app's stats
 * read just before and just after (counters only grow, so records consumed meanwhile cannot make this flaky). Throws
 * naming the counter otherwise; returns the collected points for further checks.
 */
export async function expectCountersMatchStats<T>(
  meters: { collect(): Promise<CollectedPoint[]> },
  stats: () => T,
  counters: Record<string, (stats: T) => number>,
): Promise<CollectedPoint[]> {
  const before = stats();
  const points = await meters.collect();
  const after = stats();
  for (const [name, read] of Object.entries(counters)) {
    const value = points.find((p) => p.name === name)?.value;
    const [low, high] = [read(before), read(after)];
    if (typeof value !== 'number' || value < low || value > high) {
      throw new Error(`metric ${name} is ${JSON.stringify(value)}, expected a number from ${low} to ${high} (the app's own figure before and after collecting)`);
    }
  }
  return points;
}
