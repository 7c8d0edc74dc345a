import { expectCountersMatchStats, type CollectedPoint } from './metrics';

const meters = (points: CollectedPoint[]) => ({ collect: async () => points });
const point = (name: string, value: number): CollectedPoint => ({ name, unit: '', value, attributes: {} });

describe('expectCountersMatchStats', () => {
  it('passes when the collected counter lies between the stats read before and after', async () => {
    let n = 5;
    await expect(expectCountersMatchStats(meters([point('c', 6)]), () => ({ n: n++ }), { c: (s) => s.n })).resolves.toHaveLength(1);
  });

  it('fails naming the counter when it is missing, out of range or not a number', async () => {
    await expect(expectCountersMatchStats(meters([]), () => ({ n: 1 }), { c: (s) => s.n })).rejects.toThrow('metric c is undefined');
    await expect(expectCountersMatchStats(meters([point('c', 9)]), () => ({ n: 1 }), { c: (s) => s.n })).rejects.toThrow('metric c is 9, expected a number from 1 to 1');
    await expect(expectCountersMatchStats(meters([{ ...point('c', 0), value: { sum: 1, count: 1 } }]), () => ({ n: 1 }), { c: (s) => s.n })).rejects.toThrow('metric c is {"sum":1,"count":1}');
  });
});
