/**
 * Retention against real shards: on-demand purges delete exactly the rows
 * ingested before the cut-off (checked on the shard, family table and
 * raw_logs), errors for bad times and unknown families, policies over REST,
 * the default policy flag, and the background purger applying a policy and
 * expiring Idempotency-Keys. Time is controlled through the injected clock,
 * which never runs ahead of the real one (other files' purgers share these
 * shards).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { api, ingest, onShard, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';
import type { Clock } from '../../src/services/clock.js';

const shards = inject('shards');

/** A clock the test moves; it starts at the real time. */
function controlledClock(): { clock: Clock; set(date: Date): void; reset(): void } {
  let fixed: Date | undefined;
  return {
    clock: () => fixed ?? new Date(),
    set(date: Date) {
      fixed = date;
    },
    reset() {
      fixed = undefined;
    },
  };
}

function shardSpec(name: string) {
  const spec = shards.find((s) => s.name === name);
  if (spec === undefined) throw new Error(`no shard ${name}`);
  return spec;
}

const DAY_MS = 86_400_000;

describe('on-demand purge', () => {
  const time = controlledClock();
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway(shards, ['--purge_interval_seconds=0'], { clock: time.clock });
  });
  afterAll(async () => {
    await gateway.close();
  });

  it('deletes exactly the rows ingested before the cut-off, in the family table and raw_logs', async () => {
    const family = uniqueFamily('purge_cut');
    const schema = { name: 'string', n: 'int' };
    const cut = new Date(Math.floor(Date.now() / 1000) * 1000 - 5 * DAY_MS);
    const batches: Array<[Date, string[]]> = [
      [new Date(cut.getTime() - 10 * DAY_MS), ['a1', 'a2', 'a3']],
      [new Date(cut.getTime() - 1), ['b1', 'b2']],
      [cut, ['c1', 'c2']],
      [new Date(cut.getTime() + 1), ['d1']],
      [new Date(cut.getTime() + 4 * DAY_MS), ['e1']],
    ];
    let shard = '';
    for (const [at, names] of batches) {
      time.set(at);
      const answer = await ingest(gateway, family, schema, names.map((name, n) => ({ name, n })));
      expect(answer.status).toBe(200);
      shard = answer.body.shard;
    }
    time.reset();
    const spec = shardSpec(shard);

    const purged = await api(gateway, 'DELETE', `/api/log/${family}?before=${encodeURIComponent(cut.toISOString())}`);
    expect(purged.status).toBe(200);
    expect(purged.body).toEqual({ family, deleted: 5, deletedRaw: 5, before: `${cut.toISOString().slice(0, 23)}000Z` });

    const rows = await onShard<{ name: string; at: string }>(spec, `SELECT name, _ingested_at AS at FROM \`${family}\` ORDER BY id`);
    expect(rows.map((r) => r.name)).toEqual(['c1', 'c2', 'd1', 'e1']);
    for (const row of rows) expect(new Date(`${row.at.replace(' ', 'T')}Z`).getTime()).toBeGreaterThanOrEqual(cut.getTime());
    const raw = await onShard<{ log: unknown }>(spec, 'SELECT log FROM raw_logs WHERE family = ? ORDER BY id', [family]);
    expect(raw.map((r) => (typeof r.log === 'string' ? JSON.parse(r.log) : r.log).name)).toEqual(['c1', 'c2', 'd1', 'e1']);

    // Epoch seconds, as a number in the query string: the cut-off at c1/c2 removes nothing more.
    const again = await api(gateway, 'DELETE', `/api/log/${family}?before=${cut.getTime() / 1000}`);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ family, deleted: 0, deletedRaw: 0 });

    // One millisecond later takes c1 and c2 and nothing else, through the service API too.
    const service = await gateway.app.services.retention.purge(family, new Date(cut.getTime() + 1).toISOString());
    expect(service).toMatchObject({ family, deleted: 2, deletedRaw: 2 });
    const left = await onShard<{ name: string }>(spec, `SELECT name FROM \`${family}\` ORDER BY id`);
    expect(left.map((r) => r.name)).toEqual(['d1', 'e1']);
    const leftRaw = await onShard<{ c: number }>(spec, 'SELECT COUNT(*) AS c FROM raw_logs WHERE family = ?', [family]);
    expect(Number(leftRaw[0]?.c)).toBe(2);

    // The query API (SELECT *) still answers the remaining rows without the internal column.
    const rest = await api(gateway, 'POST', '/api/query', { query: `SELECT * FROM ${family} ORDER BY id` });
    expect(rest.status).toBe(200);
    expect(rest.body.results.map((r: { name: string }) => r.name)).toEqual(['d1', 'e1']);
  });

  it('leaves other families alone, also in the shared raw_logs', async () => {
    const target = uniqueFamily('purge_target');
    const bystander = uniqueFamily('purge_bystander');
    time.set(new Date(Date.now() - 3 * DAY_MS));
    expect((await ingest(gateway, target, { v: 'int' }, [{ v: 1 }, { v: 2 }])).status).toBe(200);
    const other = await ingest(gateway, bystander, { v: 'int' }, [{ v: 1 }]);
    expect(other.status).toBe(200);
    time.reset();
    const purged = await api(gateway, 'DELETE', `/api/log/${target}?before=${encodeURIComponent(new Date().toISOString())}`);
    expect(purged.body).toMatchObject({ deleted: 2, deletedRaw: 2 });
    const spec = shardSpec(other.body.shard);
    expect(await onShard(spec, `SELECT id FROM \`${bystander}\``)).toHaveLength(1);
    expect(await onShard(spec, 'SELECT id FROM raw_logs WHERE family = ?', [bystander])).toHaveLength(1);
  });

  it('refuses a future, unparseable or missing "before" with 400 INVALID_TIME, deleting nothing', async () => {
    const family = uniqueFamily('purge_bad');
    const first = await ingest(gateway, family, { v: 'int' }, [{ v: 1 }]);
    expect(first.status).toBe(200);
    const future = new Date(Date.now() + 60_000).toISOString();
    for (const before of [encodeURIComponent(future), String(Math.floor(Date.now() / 1000) + 3600), 'yesterday', '2024-02-30', '-5', '']) {
      const answer = await api(gateway, 'DELETE', `/api/log/${family}?before=${before}`);
      expect(answer.status, before).toBe(400);
      expect(answer.body.error.code).toBe('INVALID_TIME');
      expect(answer.body.error.message).toMatch(/ISO-8601|future|1970/);
    }
    const missing = await api(gateway, 'DELETE', `/api/log/${family}`);
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('INVALID_TIME');
    expect(await onShard(shardSpec(first.body.shard), `SELECT id FROM \`${family}\``)).toHaveLength(1);
  });

  it('answers 404 FAMILY_NOT_FOUND for an unknown family on every retention endpoint', async () => {
    const family = uniqueFamily('nobody');
    const past = encodeURIComponent(new Date(Date.now() - DAY_MS).toISOString());
    const answers = [
      await api(gateway, 'DELETE', `/api/log/${family}?before=${past}`),
      await api(gateway, 'GET', `/api/families/${family}/retention`),
      await api(gateway, 'PUT', `/api/families/${family}/retention`, { retention: '7d' }),
      await api(gateway, 'DELETE', `/api/families/${family}/retention`),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(404);
      expect(answer.body.error.code).toBe('FAMILY_NOT_FOUND');
      expect(answer.body.error.family).toBe(family);
    }
    await expect(gateway.app.services.retention.purge(family, 0)).rejects.toMatchObject({ code: 'FAMILY_NOT_FOUND' });
  });
});

describe('retention policies over REST', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway(shards, ['--purge_interval_seconds=0']);
  });
  afterAll(async () => {
    await gateway.close();
  });

  it('sets, changes, reads and clears a policy; describe shows it', async () => {
    const family = uniqueFamily('policy');
    expect((await ingest(gateway, family, { v: 'int' }, [{ v: 1 }])).status).toBe(200);
    const path = `/api/families/${family}/retention`;

    expect((await api(gateway, 'GET', path)).body).toEqual({ family, retentionSeconds: null });
    const set = await api(gateway, 'PUT', path, { retention: '7d' });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ family, retentionSeconds: 604_800 });
    expect((await api(gateway, 'GET', path)).body).toEqual({ family, retentionSeconds: 604_800 });

    expect((await api(gateway, 'PUT', path, { retention: 3600 })).body).toEqual({ family, retentionSeconds: 3600 });
    expect((await api(gateway, 'PUT', path, { retention: '12h' })).body).toEqual({ family, retentionSeconds: 43_200 });
    const described = await api(gateway, 'GET', '/api/describe');
    expect(described.body.tables.find((t: { name: string }) => t.name === family).retentionSeconds).toBe(43_200);

    const cleared = await api(gateway, 'DELETE', path);
    expect(cleared.status).toBe(200);
    expect(cleared.body).toEqual({ family, retentionSeconds: null });
    expect((await api(gateway, 'GET', path)).body).toEqual({ family, retentionSeconds: null });
  });

  it('refuses a bad policy with 400 INVALID_TIME naming the accepted forms, keeping the old one', async () => {
    const family = uniqueFamily('policy_bad');
    expect((await ingest(gateway, family, { v: 'int' }, [{ v: 1 }])).status).toBe(200);
    const path = `/api/families/${family}/retention`;
    await api(gateway, 'PUT', path, { retention: '1d' });
    for (const retention of ['soon', 0, -3600, 1.5, '0s', null, { days: 1 }]) {
      const answer = await api(gateway, 'PUT', path, { retention });
      expect(answer.status, JSON.stringify(retention)).toBe(400);
      expect(answer.body.error.code).toBe('INVALID_TIME');
      expect(answer.body.error.message).toContain('30d');
      expect(answer.body.error.field).toBe('retention');
    }
    const noBody = await api(gateway, 'PUT', path);
    expect(noBody.status).toBe(400);
    expect((await api(gateway, 'GET', path)).body.retentionSeconds).toBe(86_400);
  });

  it('--default_retention gives new families a policy', async () => {
    const withDefault = await startGateway(shards, ['--purge_interval_seconds=0', '--default_retention=2h']);
    try {
      const family = uniqueFamily('policy_default');
      expect((await ingest(withDefault, family, { v: 'int' }, [{ v: 1 }])).status).toBe(200);
      expect((await api(withDefault, 'GET', `/api/families/${family}/retention`)).body).toEqual({ family, retentionSeconds: 7200 });
    } finally {
      await withDefault.close();
    }
  });
});

describe('background purger', () => {
  const time = controlledClock();
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway(shards, ['--purge_interval_seconds=1', '--idempotency_ttl_seconds=3600'], { clock: time.clock });
  });
  afterAll(async () => {
    await gateway.close();
  });

  it('applies a family policy and expires old Idempotency-Keys; metrics count what went', async () => {
    const family = uniqueFamily('policy_bg');
    const schema = { name: 'string' };
    time.set(new Date(Date.now() - 2 * DAY_MS));
    const old = await ingest(gateway, family, schema, [{ name: 'old1' }, { name: 'old2' }], { 'Idempotency-Key': 'old-key' });
    expect(old.status).toBe(200);
    time.set(new Date(Date.now() - 2 * 3_600_000));
    // Newer than the policy, older than the key ttl: the row stays, the key goes.
    expect((await ingest(gateway, family, schema, [{ name: 'mid' }], { 'Idempotency-Key': 'mid-key' })).status).toBe(200);
    time.reset();
    expect((await ingest(gateway, family, schema, [{ name: 'new' }], { 'Idempotency-Key': 'new-key' })).status).toBe(200);
    const spec = shardSpec(old.body.shard);

    let purgedHere = 0;
    let roundsHere = 0;
    gateway.app.purger!.subscribe((event) => {
      if (event.family !== family || event.type !== 'purged') return;
      roundsHere += 1;
      purgedHere += event.outcome.deleted + event.outcome.deletedRaw;
    });
    expect((await api(gateway, 'PUT', `/api/families/${family}/retention`, { retention: '1d' })).status).toBe(200);

    const deadline = Date.now() + 20_000;
    let names: string[] = [];
    let keys: string[] = [];
    while (Date.now() < deadline) {
      names = (await onShard<{ name: string }>(spec, `SELECT name FROM \`${family}\` ORDER BY id`)).map((r) => r.name);
      keys = (await onShard<{ k: string }>(spec, 'SELECT idem_key AS k FROM databalancer_idempotency WHERE family = ? ORDER BY idem_key', [family])).map(
        (r) => r.k,
      );
      if (names.length === 2 && keys.length === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(names).toEqual(['mid', 'new']);
    expect(keys).toEqual(['new-key']);
    expect(await onShard(spec, 'SELECT id FROM raw_logs WHERE family = ?', [family])).toHaveLength(2);
    // Gateways of other test files may take this family's lease for a round; the metrics of this
    // one count exactly what its own rounds removed (later rounds remove 0 but still report).
    const roundDeadline = Date.now() + 15_000;
    while (roundsHere === 0 && Date.now() < roundDeadline) await new Promise((resolve) => setTimeout(resolve, 250));
    expect(roundsHere).toBeGreaterThan(0);
    const metrics = await api(gateway, 'GET', '/metrics');
    expect(metrics.body).toContain(`databalancer_purged_rows_total{family="${family}"} ${purgedHere}`);
    expect(metrics.body).toContain(`databalancer_purge_duration_seconds_count{family="${family}"} `);
  });
});
