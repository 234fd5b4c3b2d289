/**
 * The seed's log lines: start-up lines at info, the per-event lines
 * ("The value of the weight field in the dog_registry log event is 100") at
 * debug only.
 */
import { describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { ingest, shardsFlag, uniqueFamily } from './helpers/gateway.js';

const shards = inject('shards');

async function linesAt(level: string): Promise<{ lines: Array<{ level: number; msg: string }>; family: string }> {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
  const config = loadConfig([`--shards=${shardsFlag(shards)}`, '--server_address=127.0.0.1:0', '--purge_interval_seconds=0'], {});
  const app = await createApp(config, logger);
  try {
    await Promise.all(app.manager.shards.map((pool) => pool.ready()));
    const url = await app.server.listen({ host: '127.0.0.1', port: 0 });
    const family = uniqueFamily('dogs_log');
    const answer = await ingest({ url }, family, { name: 'string', weight: 'int' }, [{ name: 'spot', weight: 100 }]);
    expect(answer.status).toBe(200);
    return { lines, family };
  } finally {
    await app.close();
  }
}

describe('seed log lines', () => {
  it('at debug: start-up lines and every per-event line', async () => {
    const { lines, family } = await linesAt('debug');
    const messages = lines.map((l) => l.msg);
    for (const spec of shards) expect(messages).toContain(`Connected to MySQL as root at ${spec.host}:${spec.port}`);
    expect(messages).toContain(`Received logs for the ${family} log family`);
    expect(messages).toContain(`Log values for the field weight of the ${family} log will be of type int`);
    expect(messages).toContain(`Handling a new log event for the ${family} log family`);
    expect(messages).toContain(`The value of the weight field in the ${family} log event is 100`);
    expect(messages).toContain(`The value of the name field in the ${family} log event is spot`);
    const perEvent = lines.find((l) => l.msg.startsWith('The value of'));
    expect(perEvent?.level).toBe(20);
  });

  it('at info: start-up lines only, no per-event line', async () => {
    const { lines } = await linesAt('info');
    const messages = lines.map((l) => l.msg);
    expect(messages.some((m) => m.startsWith('Connected to MySQL as root at'))).toBe(true);
    expect(messages.some((m) => m.startsWith('The value of') || m.startsWith('Handling a new log event'))).toBe(false);
  });
});
