import type { CommandFailedEvent, CommandStartedEvent, CommandSucceededEvent, MongoClient } from 'mongodb';

/**
 * Time per MongoDB command name (find / update / insert / aggregate …) for one database; with
 * `byCollection`, per command and collection ("update attribution_payment_records").
 */
export class CommandTimer {
  private readonly started = new Map<number, { name: string; at: number }>();
  readonly byName = new Map<string, { count: number; ms: number }>();
  constructor(
    private readonly database: string,
    private readonly options: { byCollection?: boolean } = {},
  ) {}
  attach(client: MongoClient): void {
    client.on('commandStarted', (e: CommandStartedEvent) => {
      if (e.databaseName !== this.database) return;
      const collection: unknown = this.options.byCollection ? e.command[e.commandName] : undefined;
      const name = typeof collection === 'string' ? `${e.commandName} ${collection}` : e.commandName;
      this.started.set(e.requestId, { name, at: performance.now() });
    });
    const done = (e: CommandSucceededEvent | CommandFailedEvent) => {
      const s = this.started.get(e.requestId);
      if (!s) return;
      this.started.delete(e.requestId);
      const row = this.byName.get(s.name) ?? { count: 0, ms: 0 };
      row.count += 1;
      row.ms += performance.now() - s.at;
      this.byName.set(s.name, row);
    };
    client.on('commandSucceeded', done);
    client.on('commandFailed', done);
  }
}

/** One line per command name, the slowest first: calls, wall ms summed, share, ms per call. */
export function commandTable(timer: CommandTimer): string[] {
  const total = [...timer.byName.values()].reduce((a, b) => a + b.ms, 0);
  return [...timer.byName]
    .sort((a, b) => b[1].ms - a[1].ms)
    .map(([name, row]) => `${name.padEnd(44)} ${String(row.count).padStart(6)} calls ${row.ms.toFixed(0).padStart(9)} ms  ${((100 * row.ms) / total).toFixed(1).padStart(5)} %  ${(row.ms / row.count).toFixed(1)} ms/call`);
}
