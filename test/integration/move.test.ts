/**
 * Moving a family between shards (docs/moving.md): the refusals, a move
 * with everything that travels with the family (typed rows, raw copies,
 * retention policy, Idempotency-Keys, columns added during the move), what
 * is left on the source, a process with the old placement cached, cancel,
 * and the rebalance proposal.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { api, ingest, onShard, query, specNamed, startGateway, tableExists, uniqueFamily, waitForMove, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
/** A database of this file's own: its thousands of rows stay out of other files' cross-shard raw_logs queries. */
const DATABASE = 'databalancer_moves';
let gateway: TestGateway;
let other: TestGateway;

beforeAll(async () => {
  gateway = await startGateway(shards, ['--move_lease_seconds=2'], { database: DATABASE });
  other = await startGateway(shards, ['--move_lease_seconds=2'], { database: DATABASE });
});
afterAll(async () => {
  await gateway.close();
  await other.close();
});

const schema = { seq: 'int', name: 'string', weight: 'float' };


async function placed(family: string): Promise<string> {
  const answer = await ingest(gateway, family, schema, []);
  expect(answer.status).toBe(200);
  return answer.body.shard as string;
}

function otherShard(shard: string): string {
  return shards.map((s) => s.name).find((name) => name !== shard) as string;
}

describe('POST /api/families/{family}/move refuses', () => {
  it('an unknown shard, the shard it is on, an unknown family, a missing "to"', async () => {
    const family = uniqueFamily('mv_refuse');
    const home = await placed(family);
    const unknown = await api(gateway, 'POST', `/api/families/${family}/move`, { to: 'nope' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('BAD_USER_INPUT');
    expect(unknown.body.error.message).toContain('unknown shard "nope"');
    const same = await api(gateway, 'POST', `/api/families/${family}/move`, { to: home });
    expect(same.status).toBe(400);
    expect(same.body.error.message).toContain('already');
    const missing = await api(gateway, 'POST', `/api/families/${family}/move`, {});
    expect(missing.status).toBe(400);
    const ghost = await api(gateway, 'POST', `/api/families/${uniqueFamily('ghost')}/move`, { to: home });
    expect(ghost.status).toBe(404);
    expect(ghost.body.error.code).toBe('FAMILY_NOT_FOUND');
    const never = await api(gateway, 'GET', `/api/families/${family}/move`);
    expect(never.status).toBe(404);
    expect(never.body.error.code).toBe('MOVE_NOT_FOUND');
    const cancel = await api(gateway, 'DELETE', `/api/families/${family}/move`);
    expect(cancel.status).toBe(404);
    expect(cancel.body.error.code).toBe('MOVE_NOT_FOUND');
    // Nothing recorded by any refusal: the family is where it was.
    expect((await api(gateway, 'GET', '/api/describe')).body.tables.find((t: { name: string }) => t.name === family)).toBeDefined();
  });

  it('a second move while one is active (409), and cancel leaves the family where it was with the target clean', async () => {
    const family = uniqueFamily('mv_cancel');
    const home = await placed(family);
    const logs = Array.from({ length: 2000 }, (_, i) => ({ seq: i, name: `n${i}`, weight: i / 3 }));
    expect((await ingest(gateway, family, schema, logs)).status).toBe(200);
    // A slow move: 200 rows per second.
    const slow = await startGateway(shards, ['--move_rows_per_second=200', '--move_batch_rows=100'], { database: DATABASE });
    try {
      // Not the first shard, where cross-shard raw_logs queries gather: the staging copy is then a remote table there.
      const to = [...shards].reverse().map((s) => s.name).find((name) => name !== home) as string;
      const started = await api(slow, 'POST', `/api/families/${family}/move`, { to });
      expect(started.status).toBe(202);
      expect(started.body).toMatchObject({ family, from: home, to, state: 'copying' });
      expect(typeof started.body.moveId).toBe('string');
      const again = await api(gateway, 'POST', `/api/families/${family}/move`, { to });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('FAMILY_MOVING');
      // Purges wait for the move.
      const purge = await api(gateway, 'DELETE', `/api/log/${family}?before=2100-01-01T00:00:00Z`);
      expect([400, 409]).toContain(purge.status);
      await new Promise((resolve) => setTimeout(resolve, 600));
      // The staging copy on the target is no family: raw_logs gathered from every shard leaves it out.
      const internal = await query(gateway, "SELECT COUNT(*) AS n FROM raw_logs WHERE family LIKE 'databalancer%'");
      expect([internal.status, internal.body.results]).toEqual([200, [{ n: 0 }]]);
      const cancelled = await api(gateway, 'DELETE', `/api/families/${family}/move`);
      expect(cancelled.status).toBe(200);
      expect(cancelled.body.state).toBe('cancelled');
      await slow.app.services.moves.idle();
      const staging = `databalancer_move_${started.body.moveId as string}`;
      expect(await tableExists(specNamed(shards, to), staging, DATABASE)).toBe(false);
      expect((await query(gateway, `SELECT COUNT(*) AS n FROM ${family}`)).body.results).toEqual([{ n: 2000 }]);
      expect((await ingest(gateway, family, schema, [{ seq: 1, name: 'after', weight: 1 }])).body.shard).toBe(home);
      const status = await api(gateway, 'GET', `/api/families/${family}/move`);
      expect(status.body).toMatchObject({ state: 'cancelled', from: home, to });
      expect(status.body.finishedAt).not.toBeNull();
    } finally {
      await slow.close();
    }
  });
});

describe('a family moved to another shard', () => {
  it('takes its rows, raw copies, retention, Idempotency-Keys and new columns; the source keeps nothing; a stale process follows', async () => {
    const family = uniqueFamily('mv_all');
    const home = await placed(family);
    const to = otherShard(home);
    // The other process caches the placement now.
    expect((await ingest(other, family, schema, [{ seq: -1, name: 'cached', weight: 0 }])).body.shard).toBe(home);
    expect((await api(gateway, 'PUT', `/api/families/${family}/retention`, { retention: '30d' })).status).toBe(200);
    const keyed = await ingest(gateway, family, schema, [{ seq: -2, name: 'keyed', weight: 0.1 + 0.2 }], { 'idempotency-key': 'k-1' });
    expect(keyed.status).toBe(200);
    for (let b = 0; b < 5; b++) {
      const logs = Array.from({ length: 1000 }, (_, i) => ({ seq: b * 1000 + i, name: `dog "${i}"\\ \u00e9`, weight: (b * 1000 + i) / 7 }));
      expect((await ingest(gateway, family, schema, logs)).status).toBe(200);
    }
    const before = (await query(gateway, `SELECT id, seq, name, weight FROM ${family} ORDER BY id`)).body.results;
    const rawBefore = (await query(gateway, `SELECT id, log FROM raw_logs WHERE family = '${family}' ORDER BY id`)).body.results;
    expect(before).toHaveLength(5002);
    expect(rawBefore).toHaveLength(5002);

    const started = await api(gateway, 'POST', `/api/families/${family}/move`, { to });
    expect(started.status).toBe(202);
    // A column added while it moves.
    const widened = await ingest(gateway, family, { ...schema, color: 'string' }, [{ seq: 99_999, name: 'late', weight: 1, color: 'red' }]);
    expect(widened.status).toBe(200);
    const done = await waitForMove(gateway, family);
    expect(done).toMatchObject({ state: 'done', from: home, to, error: null });
    expect(done.copiedRows).toBeGreaterThanOrEqual(5003);

    // Where it lives now, for every process.
    expect((await api(gateway, 'GET', '/api/describe')).body.tables.find((t: { name: string }) => t.name === family).shard).toBe(to);
    const stale = await ingest(other, family, schema, [{ seq: -3, name: 'stale', weight: 2 }]);
    expect(stale.status).toBe(200);
    expect(stale.body.shard).toBe(to);
    const after = (await query(other, `SELECT id, seq, name, weight FROM ${family} WHERE seq <> -3 AND seq <> 99999 ORDER BY id`)).body.results;
    expect(after).toEqual(before);
    expect((await query(gateway, `SELECT color FROM ${family} WHERE seq = 99999`)).body.results).toEqual([{ color: 'red' }]);
    const rawAfter = (await query(gateway, `SELECT id, log FROM raw_logs WHERE family = '${family}' AND id <= ${rawBefore.at(-1).id} ORDER BY id`)).body.results;
    expect(rawAfter).toEqual(rawBefore);
    // The retention policy and the key moved too: a retry is answered, not applied.
    expect((await api(other, 'GET', `/api/families/${family}/retention`)).body.retentionSeconds).toBe(30 * 86400);
    const replay = await ingest(other, family, schema, [{ seq: -2, name: 'keyed', weight: 0.1 + 0.2 }], { 'idempotency-key': 'k-1' });
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed') ?? 'true').toBe('true');
    expect((await query(gateway, `SELECT COUNT(*) AS n FROM ${family} WHERE seq = -2`)).body.results).toEqual([{ n: 1 }]);

    // Nothing of it left on the source.
    const source = specNamed(shards, home);
    expect(await tableExists(source, family, DATABASE)).toBe(false);
    expect(await tableExists(source, `databalancer_moved_${started.body.moveId as string}`, DATABASE)).toBe(false);
    expect(await onShard(source, 'SELECT COUNT(*) AS n FROM databalancer_idempotency WHERE family = ?', [family], DATABASE)).toEqual([{ n: 0 }]);
    expect(await onShard(source, 'SELECT COUNT(*) AS n FROM raw_logs WHERE family = ?', [family], DATABASE)).toEqual([{ n: 0 }]);
    const target = specNamed(shards, to);
    expect(await onShard(target, `SELECT COUNT(*) AS n FROM \`${family}\``, [], DATABASE)).toEqual([{ n: 5004 }]);

    // And it can move back.
    expect((await api(other, 'POST', `/api/families/${family}/move`, { to: home })).status).toBe(202);
    expect(await waitForMove(other, family)).toMatchObject({ state: 'done', to: home });
    expect((await ingest(gateway, family, schema, [{ seq: -4, name: 'home again', weight: 3 }])).body.shard).toBe(home);
    expect((await query(gateway, `SELECT COUNT(*) AS n FROM ${family}`)).body.results).toEqual([{ n: 5005 }]);
  });
});

describe('a moved family\'s old table with --move_source_grace_seconds', () => {
  it('is kept, renamed, for the grace period, then dropped', async () => {
    const graceful = await startGateway(shards, ['--move_source_grace_seconds=2', '--move_lease_seconds=2'], { database: DATABASE });
    try {
      const family = uniqueFamily('mv_grace');
      const home = await placed(family);
      expect((await ingest(graceful, family, schema, [{ seq: 1, name: 'a', weight: 1 }])).status).toBe(200);
      const started = await api(graceful, 'POST', `/api/families/${family}/move`, { to: otherShard(home) });
      expect(started.status).toBe(202);
      await waitForMove(graceful, family);
      const retired = `databalancer_moved_${started.body.moveId as string}`;
      const source = specNamed(shards, home);
      expect(await tableExists(source, retired, DATABASE)).toBe(true);
      expect(await tableExists(source, family, DATABASE)).toBe(false);
      // Not part of raw_logs there, and not a family anyone can query.
      expect(await onShard(source, 'SELECT COUNT(*) AS n FROM raw_logs WHERE family = ?', [retired], DATABASE)).toEqual([{ n: 0 }]);
      expect((await query(graceful, `SELECT COUNT(*) AS n FROM ${retired}`)).status).toBe(404);
      const deadline = Date.now() + 20_000;
      while (await tableExists(source, retired, DATABASE)) {
        if (Date.now() > deadline) throw new Error(`${retired} was not dropped after its grace period`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect((await query(graceful, `SELECT COUNT(*) AS n FROM ${family}`)).body.results).toEqual([{ n: 1 }]);
    } finally {
      await graceful.close();
    }
  });
});

describe('POST /api/rebalance', () => {
  it('queues the proposed moves and runs them one at a time until rows per shard even out', { timeout: 120_000 }, async () => {
    // A database of its own: a rebalance moves every family it sees.
    const database = `rebalance_${uniqueFamily('db')}`;
    const own = await startGateway(shards, ['--move_lease_seconds=2'], { database });
    try {
      const families = Array.from({ length: 6 }, (_, i) => uniqueFamily(`rb${i}`));
      const first = shards[0]?.name as string;
      for (const family of families) {
        const answer = await ingest(own, family, schema, Array.from({ length: 500 }, (_, i) => ({ seq: i, name: 'x', weight: 1 })));
        expect(answer.status).toBe(200);
        if (answer.body.shard !== first) {
          expect((await api(own, 'POST', `/api/families/${family}/move`, { to: first })).status).toBe(202);
          expect(await waitForMove(own, family)).toMatchObject({ state: 'done' });
        }
      }
      // Fresh InnoDB row estimates.
      for (const family of families) await onShard(specNamed(shards, first), `ANALYZE TABLE \`${family}\``, [], database);
      const proposal = await api(own, 'GET', '/api/rebalance');
      expect(proposal.status).toBe(200);
      expect(proposal.body.before[first]).toBe(3000);
      expect(proposal.body.moves.length).toBe(4);
      const queued = await api(own, 'POST', '/api/rebalance');
      expect(queued.status).toBe(202);
      expect(queued.body.queued.map((m: { family: string }) => m.family).sort()).toEqual(proposal.body.moves.map((m: { family: string }) => m.family).sort());
      for (const move of queued.body.queued) expect(await waitForMove(own, move.family as string)).toMatchObject({ state: 'done', to: move.to });
      const placements = (await api(own, 'GET', '/api/describe')).body.tables.filter((t: { name: string }) => families.includes(t.name));
      const perShard = new Map<string, number>();
      for (const t of placements) perShard.set(t.shard, (perShard.get(t.shard) ?? 0) + 1);
      expect([...perShard.values()].sort()).toEqual([2, 2, 2]);
      // One at a time: no two of the rebalance's moves overlapped.
      const runs = await Promise.all(queued.body.queued.map((m: { family: string }) => api(own, 'GET', `/api/families/${m.family}/move`)));
      const spans = runs.map((r) => [Date.parse(r.body.startedAt as string), Date.parse(r.body.finishedAt as string)] as const).sort((x, y) => x[0] - y[0]);
      expect(spans.length).toBe(4);
      for (let i = 1; i < spans.length; i++) expect((spans[i] as readonly [number, number])[0]).toBeGreaterThanOrEqual((spans[i - 1] as readonly [number, number])[1]);
    } finally {
      await own.close();
    }
  });
});

describe('GET /api/rebalance', () => {
  it('proposes moves without doing them', async () => {
    const answer = await api(gateway, 'GET', '/api/rebalance');
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.body.before).sort()).toEqual(shards.map((s) => s.name).sort());
    expect(Array.isArray(answer.body.moves)).toBe(true);
    for (const move of answer.body.moves) expect(move.from).not.toBe(move.to);
  });
});
