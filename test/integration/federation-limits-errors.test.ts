/**
 * Wrong credentials are reported as such: a gateway whose second shard is
 * given a wrong password answers 503 SHARD_UNAVAILABLE with reason
 * authentication_failed naming that shard and saying to check its user and
 * password (not "unreachable"), /readyz says so too, and the gateway logs a
 * warning that never contains the password. Its own database on the shared
 * servers, so its catalog rows never reach other tests.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { HashRing } from '../../src/shards/ring.js';
import { api, ingest, onShard, query, uniqueFamily } from './helpers/gateway.js';

const shards = inject('shards');
const database = `creds_${randomBytes(4).toString('hex')}`;
const PASSWORD = 'not-the-password-7f3a';
const lines: string[] = [];
let app: App;
let url: string;

beforeAll(async () => {
  const [good, bad] = shards;
  if (good === undefined || bad === undefined) throw new Error('needs two shards');
  const config = loadConfig(
    [`--shards=good=mysql://root@${good.host}:${good.port}/${database},bad=mysql://root:${PASSWORD}@${bad.host}:${bad.port}/${database}`, '--server_address=127.0.0.1:0', '--purge_interval_seconds=0'],
    { LOG_LEVEL: 'warn' },
  );
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l.length > 0));
      done();
    },
  });
  app = await createApp(config, pino({ level: 'warn' }, sink));
  url = await app.server.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await app?.close();
  const [good, bad] = shards;
  for (const spec of [good, bad]) if (spec !== undefined) await onShard(spec, `DROP DATABASE IF EXISTS \`${database}\``, [], null);
});

describe('a shard with wrong credentials', () => {
  it('is 503 SHARD_UNAVAILABLE, reason authentication_failed, logged without the password', async () => {
    const ring = new HashRing(['good', 'bad']);
    let family = uniqueFamily('creds');
    while (ring.shardFor(family) !== 'bad') family = uniqueFamily('creds');
    const written = await ingest({ url }, family, { n: 'int' }, [{ n: 1 }]);
    expect(written.status).toBe(503);
    expect(written.body.error).toMatchObject({ code: 'SHARD_UNAVAILABLE', shard: 'bad', reason: 'authentication_failed' });
    expect(written.body.error.message).toMatch(/user and password/);
    expect(written.body.error.message).not.toMatch(/unreachable/);
    expect(JSON.stringify(written.body)).not.toContain(PASSWORD);

    // The good shard still serves.
    let elsewhere = uniqueFamily('creds');
    while (ring.shardFor(elsewhere) !== 'good') elsewhere = uniqueFamily('creds');
    expect((await ingest({ url }, elsewhere, { n: 'int' }, [{ n: 1 }])).status).toBe(200);
    expect((await query({ url }, `SELECT COUNT(*) AS c FROM ${elsewhere}`)).body.results).toEqual([{ c: 1 }]);

    const ready = await api({ url }, 'GET', '/readyz');
    expect(ready.status).toBe(503);
    const badStatus = ready.body.shards.find((s: { name: string }) => s.name === 'bad');
    expect(badStatus).toMatchObject({ reachable: false });
    expect(JSON.stringify(ready.body)).not.toContain(PASSWORD);

    const warnings = lines.filter((l) => l.includes('authentication_failed'));
    expect(warnings.length).toBeGreaterThan(0);
    expect(JSON.parse(warnings[0] as string)).toMatchObject({ level: 40, shard: 'bad', user: 'root' });
    expect(lines.join('\n')).not.toContain(PASSWORD);
  });
});
