import { logLevel } from 'kafkajs';
import { kafkaLogCreator, type Logger } from './logger';

function recordingLogger() {
  const lines: Array<[string, object, string | undefined]> = [];
  const at = (level: string) => (obj: object, msg?: string) => lines.push([level, obj, msg]);
  const logger: Logger = { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
  return { logger, lines };
}

describe('kafkaLogCreator', () => {
  it('forwards kafkajs entries at their level with the namespace and extra fields', () => {
    const { logger, lines } = recordingLogger();
    const log = kafkaLogCreator(logger)(logLevel.INFO);
    const entry = (level: logLevel, message: string) => ({ namespace: 'Consumer', level, label: '', log: { timestamp: 't', message, groupId: 'g' } });
    log(entry(logLevel.ERROR, 'crash'));
    log(entry(logLevel.WARN, 'slow'));
    log(entry(logLevel.INFO, 'joined'));
    log(entry(logLevel.DEBUG, 'fetch'));
    expect(lines).toEqual([
      ['error', { kafkajs: 'Consumer', groupId: 'g' }, 'crash'],
      ['warn', { kafkajs: 'Consumer', groupId: 'g' }, 'slow'],
      ['info', { kafkajs: 'Consumer', groupId: 'g' }, 'joined'],
      ['debug', { kafkajs: 'Consumer', groupId: 'g' }, 'fetch'],
    ]);
  });

  it('logs the warning about our deliberately bounded producer retries at debug', () => {
    const { logger, lines } = recordingLogger();
    kafkaLogCreator(logger)(logLevel.INFO)({
      namespace: 'Producer',
      level: logLevel.WARN,
      label: 'WARN',
      log: { timestamp: 't', message: 'Limiting retries for the idempotent producer may invalidate EoS guarantees' },
    });
    expect(lines.map(([level]) => level)).toEqual(['debug']);
  });
});
