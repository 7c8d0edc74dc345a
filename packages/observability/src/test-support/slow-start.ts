// An app run through runApp whose start takes START_MS (what ensureRollups, backfills or a consumer group join can
// take), for runtime.test.ts to signal mid-start. MODE=early hands its ShutdownManager over through the hooks at
// once (as the apps do); MODE=late only returns it when the start is done; MODE=fail fails the start.
import { createLogger, runApp, ShutdownManager } from '../index';

const mode = process.env.MODE ?? 'early';
const startMs = Number(process.env.START_MS ?? '20000');

runApp('slow-start', () => ({ startMs }), async (config, hooks) => {
  const logger = createLogger({ service: 'slow-start', level: 'info' });
  const shutdown = new ShutdownManager(logger, 5000);
  if (mode !== 'late') hooks.onShutdownManager?.(shutdown);
  shutdown.add('resource: close', () => logger.info('resource closed'));
  logger.info('starting');
  await new Promise((r) => setTimeout(r, config.startMs));
  if (mode === 'fail') throw new Error('the resource refused');
  logger.info('started');
  return { shutdown };
});
