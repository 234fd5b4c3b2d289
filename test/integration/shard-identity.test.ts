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

describe('a shard missing from --shards', () => {
  it('makes /readyz not ready, naming the shard and how to configure it', async () => {
    const [a, b] = shards;
    if (a === undefined || b === undefined) throw new Error('two test shards needed');
    const db = `${database}_m`;
    const family = uniqueFamily('missing');
    const both = loadConfig([`--shards=one=mysql://root@${a.host}:${a.port}/${db},two=mysql://root@${b.host}:${b.port}/${db}`, '--server_address=127.0.0.1:0', '--purge_interval_seconds=0'], {
      LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'silent',
    });
    const full = await createApp(both, createLogger(both.logLevel));
    opened.push(full);
    // Place families until one lands on "two" (the ring decides).
    let onTwo: string | undefined;
    for (let i = 0; i < 40 && onTwo === undefined; i++) {
      const name = `${family}_${i}`;
      const response = await full.server.inject({ method: 'PUT', url: '/api/log', payload: { family: name, schema: { n: 'int' }, logs: [{ n: i }] } });
      expect(response.statusCode).toBe(200);
      if (response.json().shard === 'two') onTwo = name;
    }
    expect(onTwo).toBeDefined();
    await full.close();

    const onlyOne = loadConfig([`--shards=one=mysql://root@${a.host}:${a.port}/${db}`, '--server_address=127.0.0.1:0', '--purge_interval_seconds=0'], {
      LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'silent',
    });
    const partial = await createApp(onlyOne, createLogger(onlyOne.logLevel));
    opened.push(partial);
    try {
      const ready = await partial.server.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      const body = ready.json() as { ready: boolean; unconfiguredShards: Array<{ name: string; error: string }> };
      expect(body.ready).toBe(false);
      expect(body.unconfiguredShards.map((s) => s.name)).toEqual(['two']);
      expect(body.unconfiguredShards[0]?.error).toContain('two=host:port');
      const read = await partial.server.inject({ method: 'POST', url: '/api/query', payload: { query: `SELECT n FROM ${onTwo}` } });
      expect(read.statusCode).toBe(503);
      expect(read.json().error.code).toBe('SHARD_UNAVAILABLE');
    } finally {
      for (const spec of [a, b]) {
        const connection = await connectShard(spec, null);
        await connection.query(`DROP DATABASE IF EXISTS \`${db}\``).finally(() => connection.end());
      }
    }
  });
});
