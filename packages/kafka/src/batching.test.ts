import type { RecordMetadata } from 'kafkajs';
import { assignRecordMetadata, chunk, groupByTopic, takeBatch } from './batching';

describe('takeBatch', () => {
  it('takes at most max unsettled records from the front, skipping settled ones', () => {
    const queue = [
      { id: 1, settled: false },
      { id: 2, settled: true },
      { id: 3, settled: false },
      { id: 4, settled: false },
      { id: 5, settled: false },
    ];
    expect(takeBatch(queue, 2).map((r) => r.id)).toEqual([1, 3]);
    expect(queue.map((r) => r.id)).toEqual([4, 5]);
    expect(takeBatch(queue, 10).map((r) => r.id)).toEqual([4, 5]);
    expect(queue).toEqual([]);
  });

  it('drops a queue of only settled records', () => {
    const queue = [{ settled: true }, { settled: true }];
    expect(takeBatch(queue, 5)).toEqual([]);
    expect(queue).toEqual([]);
  });
});

describe('groupByTopic', () => {
  it('keeps topics and messages in submission order', () => {
    const m = (v: string) => ({ value: v });
    const grouped = groupByTopic([
      { topic: 'b', message: m('1') },
      { topic: 'a', message: m('2') },
      { topic: 'b', message: m('3') },
    ]);
    expect(grouped).toEqual([
      { topic: 'b', messages: [m('1'), m('3')] },
      { topic: 'a', messages: [m('2')] },
    ]);
  });
});

describe('assignRecordMetadata', () => {
  const meta = (topicName: string, partition: number, baseOffset: string): RecordMetadata => ({ topicName, partition, errorCode: 0, baseOffset });

  it('gives each record its own offset: base offset plus its rank within the partition', () => {
    const records = [
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1 },
      { topic: 't', partition: 0 },
      { topic: 'u', partition: 0 },
      { topic: 't', partition: 0 },
    ];
    const result = assignRecordMetadata(records, [meta('t', 0, '10'), meta('t', 1, '7'), meta('u', 0, '99')]);
    expect(result.map((r) => [r.topicName, r.partition, r.offset])).toEqual([
      ['t', 0, '10'],
      ['t', 1, '7'],
      ['t', 0, '11'],
      ['u', 0, '99'],
      ['t', 0, '12'],
    ]);
  });

  it('handles offsets beyond 2^53', () => {
    const [r] = assignRecordMetadata([{ topic: 't', partition: 0 }, { topic: 't', partition: 0 }].slice(1), [meta('t', 0, '9007199254740993')]);
    expect(r!.offset).toBe('9007199254740993');
    const both = assignRecordMetadata([{ topic: 't', partition: 0 }, { topic: 't', partition: 0 }], [meta('t', 0, '9007199254740993')]);
    expect(both[1]!.offset).toBe('9007199254740994');
  });

  it('counts from the base offset of the append, not the legacy offset field, when the broker sends both', () => {
    const both: RecordMetadata = { topicName: 't', partition: 0, errorCode: 0, baseOffset: '40', offset: '3' };
    expect(assignRecordMetadata([{ topic: 't', partition: 0 }, { topic: 't', partition: 0 }], [both]).map((r) => r.offset)).toEqual(['40', '41']);
  });

  it('still answers (without an offset) when the partition is unknown', () => {
    const [r] = assignRecordMetadata([{ topic: 't', partition: undefined }], [meta('t', 2, '5')]);
    expect(r).toEqual({ topicName: 't', partition: 2, errorCode: 0 });
  });
});

describe('chunk', () => {
  it('splits into slices of at most size, in order', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([], 3)).toEqual([]);
    expect(() => chunk([1], 0)).toThrow(RangeError);
  });
});
