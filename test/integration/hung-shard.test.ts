/**
 * A hung shard (its mariadbd stopped with SIGSTOP: the TCP connections stay
 * open but nothing answers), on a private two-server cluster: requests that
 * need it end on the gateway's own deadlines (504 for queries, 503 for
 * writes) instead of waiting for as long as it hangs; the other shard keeps
 * serving; and once it resumes (SIGCONT), the pools work again at full size,
 * because the stuck connections were destroyed rather than kept.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster, type ServerSpec } from '../../scripts/lib/mariadb-cluster.js';
import { api, familiesOnShards, specNamed, startGateway, type TestGateway } from './helpers/gateway.js';

let cluster: Cluster;
let gateway: TestGateway;
let hung: ServerSpec;
/** shard name -> a family living there. */
let homes: Map<string, string>;
const POOL_MAX = 2;

/** A request that gives up after 15 s, so a gateway that waits for the hung server fails the test instead of stalling it. */
function send(method: string, path: string, body: unknown): Promise<{ status: number; body: any }> {
  return api(gateway, method, path, body, {}).then((r) => ({ status: r.status, body: r.body }));
}
async function bounded(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${gateway.url}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, body: await response.json() };
}
const sql = (query: string) => bounded('POST', '/api/query', { query });
const write = (family: string, n: number) => bounded('PUT', '/api/log', { family, schema: { n: 'int' }, logs: [{ n }] });

function serverPid(spec: ServerSpec): number {
  return Number(readFileSync(spec.pidFile, 'utf8').trim());
}

beforeAll(async () => {
  cluster = await startCluster({ count: 2, names: ['hs_a', 'hs_b'] });
  hung = specNamed(cluster.servers, 'hs_b');
  gateway = await startGateway(cluster.servers, ['--query_timeout_ms=2000', '--write_timeout_ms=3000', `--pool_max=${POOL_MAX}`]);
  homes = await familiesOnShards(gateway, ['hs_a', 'hs_b'], 'hung');
  // Warm every pool of the shard that will hang, so the gateway holds connections that will stop answering.
  const family = homes.get('hs_b') as string;
  for (let i = 0; i < POOL_MAX; i++) {
    await Promise.all([write(family, i), write(family, i), sql(`SELECT COUNT(*) AS c FROM ${family}`), sql(`SELECT COUNT(*) AS c FROM ${family}`)]);
  }
});
afterAll(async () => {
  await gateway?.close();
  await cluster?.stop();
});

describe('a hung shard', () => {
  it('ends requests that need it on the gateway deadlines, keeps the other shard serving, and recovers its pools', async () => {
    const onHung = homes.get('hs_b') as string;
    const elsewhere = homes.get('hs_a') as string;
    const pid = serverPid(hung);
    process.kill(pid, 'SIGSTOP');
    try {
      // More requests than the pools have connections, all at once.
      const [reads, writes, join] = await Promise.all([
        Promise.all(Array.from({ length: POOL_MAX + 1 }, () => sql(`SELECT COUNT(*) AS c FROM ${onHung}`))),
        Promise.all(Array.from({ length: POOL_MAX + 1 }, (_, i) => write(onHung, 100 + i))),
        sql(`SELECT COUNT(*) AS c FROM ${elsewhere} x JOIN ${onHung} y ON x.n = y.n`),
      ]);
      for (const read of reads) {
        expect(read.status).toBe(504);
        expect(read.body.error.code).toBe('QUERY_TIMEOUT');
      }
      for (const w of writes) {
        expect(w.status).toBe(503);
        expect(w.body.error).toMatchObject({ code: 'SHARD_UNAVAILABLE', shard: 'hs_b' });
      }
      expect(join.status).toBe(504);
      expect(join.body.error.code).toBe('QUERY_TIMEOUT');
      // The other shard serves meanwhile.
      expect((await write(elsewhere, 7)).status).toBe(200);
      expect((await sql(`SELECT COUNT(*) AS c FROM ${elsewhere}`)).status).toBe(200);
      expect((await bounded('GET', '/readyz')).status).toBe(503);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // Back: every pool works at full size again (a stuck connection kept would make one of these wait).
    const [reads, writes] = await Promise.all([
      Promise.all(Array.from({ length: POOL_MAX + 1 }, () => sql(`SELECT COUNT(*) AS c FROM ${onHung} WHERE n >= 0`))),
      Promise.all(Array.from({ length: POOL_MAX + 1 }, (_, i) => write(onHung, 200 + i))),
    ]);
    expect(reads.map((r) => r.status)).toEqual(Array(POOL_MAX + 1).fill(200));
    expect(writes.map((w) => w.status)).toEqual(Array(POOL_MAX + 1).fill(200));
    expect((await sql(`SELECT COUNT(*) AS c FROM ${elsewhere} x JOIN ${onHung} y ON x.n = y.n`)).status).toBe(200);
    expect((await send('GET', '/readyz', undefined)).status).toBe(200);
  });
});
