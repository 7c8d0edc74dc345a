import type { DeadLetter } from '@metrivo/kafka';
import { redriveReport } from './dlq';

function letter(n: number): DeadLetter {
  return {
    dlqPartition: 0,
    dlqOffset: String(n),
    key: `k_${n}`,
    reason: 'handler_error',
    error: 'boom',
    sourcePartition: '0',
    sourceOffset: String(n),
    consumerGroup: 'g',
    failedAt: '2026-01-01T00:00:00.000Z',
    value: '{}',
    message: { key: null, value: null, timestamp: '0', attributes: 0, offset: String(n), headers: {} },
  };
}

describe('dlq redrive report', () => {
  const run = { topic: 'metrivo.payments.v1', reasons: ['handler_error'], dryRun: false };

  it('prints the first 20 records sent back and says how many more were not printed', () => {
    const lines = redriveReport({ redriven: Array.from({ length: 23 }, (_, i) => letter(i)), skipped: [letter(99)], superseded: [] }, run);
    expect(lines[0]).toBe('✔ sent back 23 record(s) to metrivo.payments.v1; left 1 in the DLQ (reason not in handler_error)');
    expect(lines.filter((l) => l.includes(' key k_'))).toHaveLength(20);
    expect(lines.at(-1)).toBe('  … and 3 more not printed');
  });

  it('says nothing about more when every record was printed, and counts the superseded ones', () => {
    const lines = redriveReport({ redriven: [letter(1)], skipped: [], superseded: [letter(2), letter(3)] }, { ...run, dryRun: true });
    expect(lines[0]).toContain('would send back 1 record(s)');
    expect(lines[1]).toBe('  left out 2 whose key already has a later record on metrivo.payments.v1 (or whose source position is unknown)');
    expect(lines.join('\n')).not.toContain('more not printed');
  });
});
