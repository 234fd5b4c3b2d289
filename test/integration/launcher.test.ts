/**
 * The throwaway shard launcher itself: the three servers from the global setup
 * are real, distinct and reachable, and stopServer/startServer is a working
 * outage switch (other integration tests use it to simulate a shard failure).
 * The outage switch is exercised on a private one-server cluster: files run in
 * parallel against the shared shards, which must never go down.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import mysql from 'mysql2/promise';
import { startCluster, startServer, stopServer, type Cluster, type ServerSpec } from '../../scripts/lib/mariadb-cluster.js';

const shards = inject('shards');
let priv: Cluster;

beforeAll(async () => {
  priv = await startCluster({ count: 1, names: ['launcher_private'] });
});
afterAll(async () => {
  await priv?.stop();
});

async function connect(spec: ServerSpec): Promise<mysql.Connection> {
  return mysql.createConnection({ host: spec.host, port: spec.port, user: 'root', password: '', connectTimeout: 5_000 });
}

async function serverIdentity(spec: ServerSpec): Promise<{ port: number; datadir: string }> {
  const connection = await connect(spec);
  try {
    const [rows] = await connection.query<mysql.RowDataPacket[]>('SELECT @@port AS port, @@datadir AS datadir');
    const row = rows[0];
    if (row === undefined) throw new Error(`no row from ${spec.name}`);
    return { port: Number(row['port']), datadir: String(row['datadir']) };
  } finally {
    await connection.end();
  }
}

describe('throwaway shard launcher', () => {
  it('provides shard_a, shard_b and shard_c on distinct loopback ports', () => {
    expect(shards.map((s) => s.name)).toEqual(['shard_a', 'shard_b', 'shard_c']);
    expect(new Set(shards.map((s) => s.port)).size).toBe(3);
    for (const spec of shards) expect(spec.host).toBe('127.0.0.1');
  });

  it('every shard accepts root over TCP with an empty password and is a distinct server', async () => {
    const identities = await Promise.all(shards.map((spec) => serverIdentity(spec)));
    identities.forEach((identity, i) => {
      const spec = shards[i];
      expect(spec).toBeDefined();
      expect(identity.port).toBe(spec?.port);
      expect(identity.datadir.replace(/\/+$/, '')).toBe(spec?.dataDir);
    });
    expect(new Set(identities.map((x) => x.datadir)).size).toBe(3);
  });

  it('root can create a database and write to it (full privileges)', async () => {
    const spec = shards[1];
    if (spec === undefined) throw new Error('missing shard_b');
    const connection = await connect(spec);
    try {
      const db = `launcher_test_${process.pid}`;
      await connection.query(`CREATE DATABASE IF NOT EXISTS \`${db}\``);
      await connection.query(`CREATE TABLE \`${db}\`.t (id BIGINT PRIMARY KEY, v TEXT) DEFAULT CHARSET=utf8mb4`);
      await connection.query(`INSERT INTO \`${db}\`.t VALUES (1, ?)`, ['héllo 🐕']);
      const [rows] = await connection.query<mysql.RowDataPacket[]>(`SELECT v FROM \`${db}\`.t`);
      expect(rows.map((r) => r['v'])).toEqual(['héllo 🐕']);
      await connection.query(`DROP DATABASE \`${db}\``);
    } finally {
      await connection.end();
    }
  });

  it('stopServer makes a shard refuse connections and startServer brings it back with its data', async () => {
    const spec = priv.servers[0];
    if (spec === undefined) throw new Error('missing the private server');
    expect(spec.name).toBe('launcher_private');
    const db = `launcher_outage_${process.pid}`;
    const setup = await connect(spec);
    await setup.query(`CREATE DATABASE IF NOT EXISTS \`${db}\``);
    await setup.end();

    await stopServer(spec);
    await expect(connect(spec)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    // Other servers are unaffected by one server's outage.
    await expect(serverIdentity(shards[0] as ServerSpec)).resolves.toMatchObject({ port: shards[0]?.port });

    // Stopping twice is harmless.
    await stopServer(spec);

    await startServer(spec);
    const identity = await serverIdentity(spec);
    expect(identity.port).toBe(spec.port);
    const after = await connect(spec);
    try {
      const [rows] = await after.query<mysql.RowDataPacket[]>('SHOW DATABASES LIKE ?', [db]);
      expect(rows).toHaveLength(1);
      await after.query(`DROP DATABASE \`${db}\``);
    } finally {
      await after.end();
    }
  });

  it('startServer on a running shard only waits for it (idempotent)', async () => {
    const spec = priv.servers[0];
    if (spec === undefined) throw new Error('missing the private server');
    const before = await serverIdentity(spec);
    await startServer(spec);
    expect(await serverIdentity(spec)).toEqual(before);
  });
});
