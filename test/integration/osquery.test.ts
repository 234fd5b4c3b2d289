/**
 * osquery-native ingest through its three routes: shippers'
 * POST /api/osquery/results (NDJSON, JSON array, gzip), osqueryd's TLS API
 * (enroll + log, node keys shared by gateways, a re-sent buffer stored
 * once), checked on the shards: families, column types, rows and metadata,
 * "" as NULL, unsigned 64-bit values exact, decorations, snapshots, status
 * logs. Fixture lines get a unique suffix on their query names per test.
 */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { api, onShard, query, specNamed, startGateway, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
const SECRET = 'deployment-secret-for-tests';
let gateway: TestGateway;
let other: TestGateway;

beforeAll(async () => {
  [gateway, other] = await Promise.all([startGateway(shards, [`--osquery_enroll_secret=${SECRET}`]), startGateway(shards, [`--osquery_enroll_secret=${SECRET}`])]);
}, 60_000);
afterAll(async () => {
  await Promise.all([gateway.close(), other.close()]);
});

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/osquery/${name}`, import.meta.url), 'utf8');

/** The fixture with each query name `q` of `names` renamed `q_<suffix>` (only `"name":"q"` keys, so column values stay). */
function renamed(text: string, names: readonly string[], suffix: string): string {
  let out = text;
  for (const name of names) out = out.split(`"name":"${name}"`).join(`"name":"${name}_${suffix}"`);
  return out;
}

const suffix = (): string => randomBytes(4).toString('hex');

function post(path: string, body: string | Buffer, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return fetch(`${gateway.url}${path}`, { method: 'POST', body, headers }).then(async (r) => ({ status: r.status, body: JSON.parse(await r.text()) }));
}

async function shardOf(family: string): Promise<string> {
  const rows = await onShard<{ shard: string }>(shards[0]!, 'SELECT shard FROM databalancer_placements WHERE family = ?', [family]);
  expect(rows, `family ${family} is placed`).toHaveLength(1);
  return rows[0]!.shard;
}

async function columnTypes(family: string): Promise<Record<string, string>> {
  const rows = await onShard<{ name: string; type: string }>(
    specNamed(shards, await shardOf(family)),
    `SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [family],
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.type.replace(/\(\d+\)/, '')]));
}

async function rowsOf(family: string, order = 'id'): Promise<Array<Record<string, unknown>>> {
  return onShard(specNamed(shards, await shardOf(family)), `SELECT * FROM \`${family}\` ORDER BY ${order}`);
}

async function rawCount(family: string): Promise<number> {
  const rows = await onShard<{ n: number }>(specNamed(shards, await shardOf(family)), 'SELECT COUNT(*) AS n FROM raw_logs WHERE family = ?', [family]);
  return Number(rows[0]!.n);
}

const NDJSON = { 'content-type': 'application/x-ndjson' };

describe('POST /api/osquery/results (shippers)', () => {
  it('event, batch and snapshot lines become typed rows with their action and metadata; decorations become columns', async () => {
    const s = suffix();
    const text = [
      renamed(fixture('event-format.ndjson'), ['processes', 'pack_incident-response_processes', 'pack_incident-response_users', 'pack_incident-response_listening_ports'], s),
      renamed(fixture('batch-format.ndjson'), ['processes', 'pack_network_listening_ports'], s),
      renamed(fixture('snapshot-format.ndjson'), ['mounts', 'process_snapshot', 'pack_it_mounts'], s),
    ].join('');
    const answer = await post('/api/osquery/results', text, NDJSON);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const byFamily = Object.fromEntries((answer.body.families as Array<{ family: string; ingested: number; originalName: string }>).map((f) => [f.family, f]));
    const processes = `processes_${s}`;
    // Event format: 2 lines; batch format: 1 added + 1 removed.
    expect(byFamily[processes]).toMatchObject({ ingested: 4, originalName: processes });
    expect(byFamily[`pack_incident_response_processes_${s}`]).toMatchObject({ ingested: 1, originalName: `pack_incident-response_processes_${s}` });

    const types = await columnTypes(processes);
    expect(types).toMatchObject({
      id: 'bigint',
      host_identifier: 'text',
      calendar_time: 'datetime',
      action: 'text',
      epoch: 'bigint unsigned',
      counter: 'bigint unsigned',
      name: 'text',
      path: 'text',
      pid: 'bigint',
    });
    const rows = await rowsOf(processes);
    expect(rows.map((r) => [r['action'], r['pid'], r['host_identifier'], r['calendar_time'], r['epoch'], r['counter']])).toEqual([
      ['added', 97830, 'hostname.local', '2014-10-01 00:37:30.000000', 314159265, 1],
      ['removed', 97650, 'hostname.local', '2014-10-01 00:37:30.000000', 314159265, 1],
      ['added', 97830, 'hostname.local', '2014-10-01 00:37:30.000000', 314159265, 1],
      ['removed', 97650, 'hostname.local', '2014-10-01 00:37:30.000000', 314159265, 1],
    ]);
    // One raw copy per line.
    expect(await rawCount(processes)).toBe(3);

    const pack = `pack_incident_response_processes_${s}`;
    expect(await columnTypes(pack)).toMatchObject({ pid: 'bigint', resident_size: 'bigint', decorations_host_uuid: 'text', decorations_username: 'text', cmdline: 'text' });
    const [nginx] = await rowsOf(pack);
    expect(nginx).toMatchObject({ name: 'nginx', pid: 1190, decorations_username: 'root', decorations_host_uuid: '4C4C4544-0051-4810-8036-B7C04F4E4D32', counter: 42 });

    // Snapshots: one row per snapshot row, action "snapshot".
    const snapshotFamily = `process_snapshot_${s}`;
    const snap = await rowsOf(snapshotFamily);
    expect(snap.map((r) => [r['action'], r['pid'], r['parent']])).toEqual([
      ['snapshot', 1, 0],
      ['snapshot', 51, 1],
      ['snapshot', 52, 1],
      ['snapshot', 54, 1],
    ]);
    expect(snap[0]!['calendar_time']).toBe('2016-05-02 22:27:32.000000');
  }, 60_000);

  it('"" in a number column is NULL, unsigned 64-bit values are exact, later lines never conflict, and SQL compares numbers as numbers', async () => {
    const s = suffix();
    const name = `pack_incident-response_processes_${s}`;
    const family = `pack_incident_response_processes_${s}`;
    const line = (pid: string, action: string, proc: string) =>
      JSON.stringify({ name, hostIdentifier: 'h1', unixTime: 1710321302, epoch: 0, counter: 1, columns: { name: proc, pid, parent: '1', resident_size: '' }, action });
    const first = [line('1190', 'added', 'nginx'), line('99', 'added', 'init'), line('250', 'added', 'sshd'), line('1000', 'removed', 'gone'), line('1000', 'added', 'cron')];
    expect((await post('/api/osquery/results', first.join('\n'), NDJSON)).status).toBe(200);
    // A later line with a non-number pid and a new column: stored, never a 409.
    const later = JSON.stringify({ name, hostIdentifier: 'h1', unixTime: 1710321303, columns: { name: 'odd', pid: 'n/a', state: 'S' }, action: 'added' });
    const again = await post('/api/osquery/results', later, NDJSON);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect((await columnTypes(family))['state']).toBe('text');

    const rows = await rowsOf(family);
    expect(rows.map((r) => [r['name'], r['pid'], r['resident_size']])).toEqual([
      ['nginx', 1190, null],
      ['init', 99, null],
      ['sshd', 250, null],
      ['gone', 1000, null],
      ['cron', 1000, null],
      ['odd', null, null],
    ]);

    const result = await query(gateway, `SELECT name, pid FROM ${family} WHERE pid > 100 AND action = 'added' ORDER BY pid`);
    expect(result.status, JSON.stringify(result.body)).toBe(200);
    expect(result.body.results).toEqual([
      { name: 'sshd', pid: 250 },
      { name: 'cron', pid: 1000 },
      { name: 'nginx', pid: 1190 },
    ]);

    // --logger_numerics: an unsigned 64-bit value beyond 2^53 kept exact (apparmor_events.pid is UNSIGNED_BIGINT).
    const numerics = renamed(fixture('numerics.ndjson'), ['apparmor_events', 'pack_network_listening_ports'], s);
    expect((await post('/api/osquery/results', numerics, NDJSON)).status).toBe(200);
    const apparmor = `apparmor_events_${s}`;
    expect(await columnTypes(apparmor)).toMatchObject({ pid: 'bigint unsigned', parent: 'bigint unsigned', comm: 'text', epoch: 'bigint unsigned' });
    const [event] = await rowsOf(apparmor);
    expect(String(event!['pid'])).toBe('18446744073709551615');
    expect(String(event!['epoch'])).toBe('18446744073709551615');
    const viaSql = await query(gateway, `SELECT pid FROM ${apparmor} WHERE pid > 9007199254740993`);
    expect(viaSql.body.results).toEqual([{ pid: '18446744073709551615' }]);
  }, 60_000);

  it('takes a JSON array, gzip-compressed, and status logs into osquery_status', async () => {
    const host = `host-${suffix()}`;
    const statusLines = fixture('status.ndjson').trim().split('\n').map((l) => l.split('"web-01.prod.example.com"').join(`"${host}"`));
    const body = gzipSync(`[${statusLines.join(',\n')}]`);
    const answer = await post('/api/osquery/results', body, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.families).toEqual([expect.objectContaining({ family: 'osquery_status', originalName: 'osquery_status', ingested: 3 })]);
    const types = await columnTypes('osquery_status');
    expect(types).toMatchObject({ severity: 'bigint', line: 'bigint', message: 'text', filename: 'text', version: 'text', decorations_host_uuid: 'text' });
    const rows = (await rowsOf('osquery_status')).filter((r) => r['host_identifier'] === host);
    expect(rows.map((r) => [r['severity'], r['filename'], r['line']])).toEqual([
      [0, 'scheduler.cpp', 83],
      [1, 'watcher.cpp', 536],
      [2, 'tls.cpp', 243],
    ]);
  }, 60_000);

  it('top-level decorations become columns; taken column names are renamed, never dropped', async () => {
    const s = suffix();
    const answer = await post('/api/osquery/results', renamed(fixture('decorations-top-level.ndjson'), ['pack_audit_id_check'], s), NDJSON);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const [row] = await rowsOf(`pack_audit_id_check_${s}`);
    expect(row).toMatchObject({
      osquery_id: '7',
      osquery_action: 'login',
      action: 'added',
      osquery_host_identifier: 'spoofed',
      host_identifier: 'db-01',
      decorations_host_uuid: '0B1F2C3D-4E5F-6071-8293-A4B5C6D7E8F9',
      decorations_environment: 'production',
    });
  }, 60_000);

  it('a bad line refuses the whole request with its line number, and nothing is written anywhere', async () => {
    const s = suffix();
    const answer = await post('/api/osquery/results', renamed(fixture('malformed.ndjson'), ['processes'], s), NDJSON);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'INVALID_JSON' });
    expect(answer.body.error.message).toMatch(/^line 2: /);
    const placed = await onShard(shards[0]!, 'SELECT family FROM databalancer_placements WHERE family = ?', [`processes_${s}`]);
    expect(placed).toEqual([]);
    const unsupported = await post('/api/osquery/results', 'x', { 'content-type': 'application/xml' });
    expect(unsupported.status).toBe(415);
  }, 60_000);
});

describe('osquery TLS API', () => {
  it('enrolls with the secret only; an unknown node key is node_invalid; any gateway takes a key another issued; a re-sent buffer is stored once', async () => {
    const host = `laptop-${suffix()}`;
    const wrong = await api(gateway, 'POST', '/api/osquery/enroll', { enroll_secret: 'nope', host_identifier: host, host_details: {} });
    expect(wrong.status).toBe(200);
    expect(wrong.body).toMatchObject({ node_invalid: true });
    expect(await onShard(shards[0]!, 'SELECT 1 FROM databalancer_osquery_nodes WHERE host_identifier = ?', [host])).toEqual([]);

    const enrolled = await api(gateway, 'POST', '/api/osquery/enroll', { enroll_secret: SECRET, host_identifier: host, host_details: { os_version: { name: 'macOS' } } });
    expect(enrolled.status).toBe(200);
    expect(enrolled.body).toEqual({ node_key: expect.any(String), node_invalid: false });
    const nodeKey: string = enrolled.body.node_key;
    // Only its hash is stored.
    const stored = await onShard<{ key_hash: string }>(shards[0]!, 'SELECT key_hash FROM databalancer_osquery_nodes WHERE host_identifier = ?', [host]);
    expect(stored).toHaveLength(1);
    expect(stored[0]!.key_hash).not.toContain(nodeKey);

    const s = suffix();
    const tls = JSON.parse(renamed(fixture('tls-body.json'), ['pack_incident-response_processes', 'users'], s)) as { data: unknown[] };
    const bad = await api(gateway, 'POST', '/api/osquery/log', { node_key: 'not-a-key', log_type: 'result', data: tls.data });
    expect(bad.status).toBe(200);
    expect(bad.body).toMatchObject({ node_invalid: true });

    const body = gzipSync(JSON.stringify({ node_key: nodeKey, log_type: 'result', data: tls.data }));
    const send = (to: TestGateway) =>
      fetch(`${to.url}/api/osquery/log`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } }).then(async (r) => ({
        status: r.status,
        body: JSON.parse(await r.text()),
      }));
    const first = await send(other);
    expect(first, JSON.stringify(first.body)).toEqual({ status: 200, body: {} });
    const processes = `pack_incident_response_processes_${s}`;
    const users = `users_${s}`;
    const countBefore = [(await rowsOf(processes)).length, (await rowsOf(users)).length];
    expect(countBefore[0]).toBeGreaterThan(0);
    expect(countBefore[1]).toBeGreaterThan(0);
    // osqueryd re-sends a buffer it could not confirm: stored once, on either gateway.
    expect(await send(gateway)).toEqual({ status: 200, body: {} });
    expect(await send(other)).toEqual({ status: 200, body: {} });
    expect([(await rowsOf(processes)).length, (await rowsOf(users)).length]).toEqual(countBefore);
    expect(await rawCount(users)).toBe(1);
    const [launchd] = await rowsOf(processes);
    expect(launchd).toMatchObject({ name: 'launchd', pid: 1, host_identifier: 'laptop-17', decorations_host_uuid: '9F1E2D3C-4B5A-6978-8776-655443322110' });

    // Status logs through the TLS logger.
    const statusBody = { node_key: nodeKey, log_type: 'status', data: [{ hostIdentifier: host, unixTime: 1710321298, severity: 1, filename: 'a.cpp', line: 7, message: 'hello', version: '5.11.0' }] };
    expect((await api(gateway, 'POST', '/api/osquery/log', statusBody)).body).toEqual({});
    const status = (await rowsOf('osquery_status')).filter((r) => r['host_identifier'] === host);
    expect(status.map((r) => [r['severity'], r['message']])).toEqual([[1, 'hello']]);

    // A bad record: 400, nothing written.
    const broken = await api(gateway, 'POST', '/api/osquery/log', { node_key: nodeKey, log_type: 'result', data: [{ name: `x_${s}`, columns: { a: '1' }, action: 'changed' }] });
    expect(broken.status).toBe(400);
    expect(broken.body.error.code).toBe('BAD_USER_INPUT');
  }, 60_000);
});
