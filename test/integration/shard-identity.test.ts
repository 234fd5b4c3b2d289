/**
 * A shard's identity survives respelling its address: families placed while
 * the server was given as localhost:<port> stay reachable when it is given as
 * 127.0.0.1:<port>, and the catalog still names the id they were placed on.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logging/logger.js';
import { connectShard, uniqueFamily } from './helpers/gateway.js';

const shards = inject('shards');
const server = shards[0];
if (server === undefined) throw new Error('no test shard');
const database = `ident_${randomBytes(4).toString('hex')}`;
const opened: App[] = [];

async function gatewayAt(host: string): Promise<{ app: App; url: string }> {
  const config = loadConfig([`--shards=${host}:${server?.port}`, `--mysql_database=${database}`, '--server_address=127.0.0.1:0', '--purge_interval_seconds=0'], {
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'silent',
  });
  const app = await createApp(config, createLogger(config.logLevel));
  opened.push(app);
  const url = await app.server.listen({ host: '127.0.0.1', port: 0 });
  return { app, url };
}

async function call(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

afterAll(async () => {
  await Promise.allSettled(opened.map((app) => app.close()));
  const connection = await connectShard(server, null);
  try {
    await connection.query(`DROP DATABASE IF EXISTS \`${database}\``);
  } finally {
    await connection.end();
  }
});

describe('shard identity', () => {
  it('keeps the families of a shard whose address is spelled another way', async () => {
    const family = uniqueFamily('ident');
    const first = await gatewayAt('localhost');
    const written = await call(first.url, 'PUT', '/api/log', { family, schema: { n: 'int' }, logs: [{ n: 1 }, { n: 2 }] });
    expect(written.status).toBe(200);
    const placedOn = written.body.shard as string;
    expect(placedOn).toBe(`localhost:${server.port}/${database}`);
    await first.app.close();

    const second = await gatewayAt('127.0.0.1');
    const read = await call(second.url, 'POST', '/api/query', { query: `SELECT SUM(n) AS total FROM ${family}` });
    expect(read.status).toBe(200);
    expect(read.body.results).toEqual([{ total: 2 + 1 }]);
    const more = await call(second.url, 'PUT', '/api/log', { family, schema: { n: 'int' }, logs: [{ n: 3 }] });
    expect(more.status).toBe(200);
    expect(more.body.shard).toBe(placedOn);
    const ready = await call(second.url, 'GET', '/readyz');
    expect(ready.status).toBe(200);
  });
});
