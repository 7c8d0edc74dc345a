import { RateMeter } from './metrics';

describe('RateMeter', () => {
  it('reports the rate over the covered part of the window and forgets seconds that left it', () => {
    let now = 1_000_000;
    const meter = new RateMeter(10, () => now);
    meter.add(5);
    now += 500;
    meter.add(5);
    expect(meter.perSecond()).toBe(10); // less than a second covered: counted as one second
    now += 1500; // 2 s since start
    meter.add(10);
    expect(meter.perSecond()).toBe(10); // 20 over 2 s
    now += 20_000; // everything older than the 10 s window
    expect(meter.perSecond()).toBe(0);
    meter.add(30);
    expect(meter.perSecond()).toBe(3); // 30 over the full 10 s window
    expect(meter.count()).toBe(50);
  });

  it('ignores non-positive counts', () => {
    const meter = new RateMeter(10, () => 5000);
    meter.add(0);
    meter.add(-3);
    expect(meter.count()).toBe(0);
  });
});
