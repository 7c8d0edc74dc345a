import { testMeterProvider } from '@metrivo/testing';
import { countersOf, observeMetrics } from './metrics';

describe('observeMetrics', () => {
  it('reads counters and gauges when the SDK collects, with the common and per-value attributes', async () => {
    const { provider, collect } = testMeterProvider();
    let processed = 3;
    const lag: Record<string, number> = { '0': 5, '1': 0 };
    observeMetrics(
      'test',
      [
        { name: 'metrivo.test.processed', description: 'records processed', unit: '{record}', kind: 'counter', observe: () => processed },
        { name: 'metrivo.test.lag', description: 'records behind', kind: 'gauge', observe: () => Object.entries(lag).map(([partition, value]) => ({ value, attributes: { partition } })) },
        { name: 'metrivo.test.unknown', description: 'not a number yet', kind: 'gauge', observe: () => Number.NaN },
      ],
      { attributes: { group: 'g1' }, meterProvider: provider },
    );
    expect(await collect()).toEqual([
      { name: 'metrivo.test.processed', unit: '{record}', value: 3, attributes: { group: 'g1' } },
      { name: 'metrivo.test.lag', unit: '', value: 5, attributes: { group: 'g1', partition: '0' } },
      { name: 'metrivo.test.lag', unit: '', value: 0, attributes: { group: 'g1', partition: '1' } },
    ]);
    processed = 10;
    lag['0'] = 1;
    const later = await collect();
    expect(later.find((p) => p.name === 'metrivo.test.processed')?.value).toBe(10);
    expect(later.find((p) => p.name === 'metrivo.test.lag' && p.attributes.partition === '0')?.value).toBe(1);
  });

  it('a figure that throws is left out; the others are still reported', async () => {
    const { provider, collect } = testMeterProvider();
    observeMetrics('test', [
      { name: 'metrivo.test.broken', description: 'x', kind: 'gauge', observe: () => { throw new Error('stats unavailable'); } },
      { name: 'metrivo.test.fine', description: 'y', kind: 'gauge', observe: () => 2 },
    ], { meterProvider: provider });
    expect((await collect()).map((p) => [p.name, p.value])).toEqual([['metrivo.test.fine', 2]]);
  });
});

describe('countersOf', () => {
  it('makes one counter per field, each read from the current stats', async () => {
    const { provider, collect } = testMeterProvider();
    const stats = { inserted: 4, conflicts: 1 };
    observeMetrics('test', countersOf(() => stats, [
      ['metrivo.test.inserted', 'inserted', (s) => s.inserted, '{entry}'],
      ['metrivo.test.conflicts', 'conflicts', (s) => s.conflicts],
    ]), { meterProvider: provider });
    stats.inserted = 9;
    expect(await collect()).toEqual([
      { name: 'metrivo.test.inserted', unit: '{entry}', value: 9, attributes: {} },
      { name: 'metrivo.test.conflicts', unit: '', value: 1, attributes: {} },
    ]);
  });
});
