/**
 * Least-privilege MySQL users (docs/security.md): the gateway runs as a
 * user holding only the grants the docs list for the ingest, writer and
 * catalog sessions, and with --reader_username/--reader_password its
 * read-only sessions use a user with nothing but SELECT. Ingest, queries
 * (a cross-shard join included), describe, retention and purges all work;
 * and a write handed directly to a reader session, with its READ ONLY
 * switched off (as if the validator and the session guard were both
 * bypassed), is refused by the SERVER (ER_TABLEACCESS_DENIED_ERROR, 1142).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { execute, fetchRawRows } from '../../src/shards/connection.js';
import { api, familiesOnShards, ingest, onShard, query, startGateway, TEST_DATABASE, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
const suffix = randomBytes(4).toString('hex');
const WRITER = { user: `gw_${suffix}`, password: `gw-${randomBytes(8).toString('hex')}` };
const READER = { user: `ro_${suffix}`, password: `ro-${randomBytes(8).toString('hex')}` };
const HOSTS = ['%', 'localhost', '127.0.0.1'];

/** The grants docs/security.md lists for the gateway's own user (ingest, writer and catalog sessions). */
const WRITER_GRANTS = 'SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, CREATE TEMPORARY TABLES, CREATE VIEW, DROP';

let gateway: TestGateway;

beforeAll(async () => {
  for (const spec of shards) {
    await onShard(spec, `CREATE DATABASE IF NOT EXISTS \`${TEST_DATABASE}\``, [], null);
    for (const host of HOSTS) {
      for (const { user, password } of [WRITER, READER]) await onShard(spec, `CREATE USER '${user}'@'${host}' IDENTIFIED BY '${password}'`, [], null);
      await onShard(spec, `GRANT ${WRITER_GRANTS} ON \`${TEST_DATABASE}\`.* TO '${WRITER.user}'@'${host}'`, [], null);
      await onShard(spec, `GRANT SELECT ON \`${TEST_DATABASE}\`.* TO '${READER.user}'@'${host}'`, [], null);
    }
  }
  const shardsFlag = shards.map((s) => `${s.name}=mysql://${WRITER.user}:${WRITER.password}@${s.host}:${s.port}/${TEST_DATABASE}`).join(',');
  gateway = await startGateway(shards, [`--shards=${shardsFlag}`, `--reader_username=${READER.user}`, `--reader_password=${READER.password}`]);
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  for (const spec of shards) {
    for (const host of HOSTS) {
      for (const { user } of [WRITER, READER]) await onShard(spec, `DROP USER IF EXISTS '${user}'@'${host}'`, [], null);
    }
  }
});

describe('least-privilege MySQL users', () => {
  it('serves ingest, queries (across shards too), describe, retention and purges', async () => {
    const placed = await familiesOnShards(gateway, shards.slice(0, 2).map((s) => s.name), `lp${suffix}`);
    const [left, right] = [...placed.values()] as [string, string];
    expect((await ingest(gateway, left, { n: 'int', note: 'string' }, [{ n: 1, note: 'a' }])).status).toBe(200);
    const single = await query(gateway, `SELECT n FROM ${left} ORDER BY n`);
    expect(single.status, JSON.stringify(single.body)).toBe(200);
    const joined = await query(gateway, `SELECT COUNT(*) AS n FROM ${left} l JOIN ${right} r ON l.n = r.n`);
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
    expect((await query(gateway, `SELECT COUNT(*) AS n FROM raw_logs WHERE family = '${left}'`)).body.results).toEqual([{ n: 2 }]);
    expect((await api(gateway, 'GET', '/api/describe')).status).toBe(200);
    expect((await api(gateway, 'PUT', `/api/families/${left}/retention`, { retention: '30d' })).status).toBe(200);
    const purged = await api(gateway, 'DELETE', `/api/log/${left}?before=${encodeURIComponent(new Date().toISOString())}`);
    expect(purged.status, JSON.stringify(purged.body)).toBe(200);
    expect(purged.body.deleted).toBe(2);
  });

  it('runs reader sessions as the reader user, which the server refuses any write', async () => {
    const home = shards[0]?.name ?? '';
    const [family] = [...(await familiesOnShards(gateway, [home], `ro${suffix}`)).values()] as [string];
    const outcome = await gateway.app.manager.withReader(home, family, async (connection) => {
      const [[who] = []] = await fetchRawRows(connection, 'SELECT CURRENT_USER()');
      // Bypass the session guard: READ WRITE again, so only the grants stand in the way.
      await execute(connection, 'SET SESSION TRANSACTION READ WRITE');
      const attempts: Record<string, unknown> = {};
      for (const sql of [
        `INSERT INTO \`${family}\` (n) VALUES (424242)`,
        `UPDATE \`${family}\` SET n = 0`,
        `DELETE FROM raw_logs WHERE family = '${family}'`,
        `CREATE TABLE \`${family}_evil\` (x INT)`,
        `DROP TABLE \`${family}\``,
      ]) {
        attempts[sql] = await execute(connection, sql).then(
          () => 'ran',
          (error: { errno?: unknown; code?: unknown }) => `${String(error.errno)} ${String(error.code)}`,
        );
        // Leave the session as the pool handed it out.
      }
      await execute(connection, 'SET SESSION TRANSACTION READ ONLY');
      return { who, attempts };
    });
    expect(outcome.who).toMatch(new RegExp(`^${READER.user}@`));
    for (const [sql, result] of Object.entries(outcome.attempts)) {
      expect(result, sql).toMatch(/^(1142 ER_TABLEACCESS_DENIED_ERROR)$/);
    }
    const rows = await onShard<{ n: number }>(shards[0]!, `SELECT COUNT(*) AS n FROM \`${family}\` WHERE n = 424242`);
    expect(Number(rows[0]?.n)).toBe(0);
  });
});
