/**
 * Moving a family between shards through GraphQL (docs/moving.md), with the
 * generated SDK against real shards: `moveFamily` then polling
 * `family(name) { shard move { state } }` until done (the rows all on the
 * target, nothing left on the source), `cancelFamilyMove` on a slow move,
 * the refusals with REST's codes, `rebalance` / `runRebalance` on a
 * database of their own, and the admin scope with access control on
 * (root fields refused whole, `Family.move` refused alone).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, FamilyMoveDocument, type DatabalancerClient, type FamilyMoveQuery } from '../../sdk/index.js';
import { api, onShard, specNamed, startGateway, tableExists, uniqueFamily, type TestGateway } from './helpers/gateway.js';
import { failure } from './helpers/sdk-failure.js';

const shards = inject('shards');
let gateway: TestGateway;
let client: DatabalancerClient;

beforeAll(async () => {
  gateway = await startGateway(shards);
  client = createClient({ url: `${gateway.url}/graphql` });
});
afterAll(async () => {
  await gateway?.close();
});

const schema = { seq: 'int', name: 'string', weight: 'float' };
const events = (n: number): Array<Record<string, unknown>> => Array.from({ length: n }, (_, i) => ({ seq: i, name: `dog "${i}" \u00e9`, weight: i / 7 }));

function otherShard(shard: string): string {
  return shards.map((s) => s.name).find((name) => name !== shard) as string;
}

/** Polls `family(name) { shard move { ... } }` until the move has ended. */
async function waitForMove(db: DatabalancerClient, family: string): Promise<FamilyMoveQuery['family']> {
  const deadline = Date.now() + 50_000;
  for (;;) {
    const { family: answer } = await db.request(FamilyMoveDocument, { name: family });
    if (answer.move !== null && ['done', 'failed', 'cancelled'].includes(answer.move.state)) return answer;
    if (Date.now() > deadline) throw new Error(`the move of ${family} did not end: ${JSON.stringify(answer)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('moveFamily', () => {
  it('moves a family: the state goes to done, the shard changes, every row is on the target and none on the source', async () => {
    const family = uniqueFamily('gqlmv');
    const ingested = await client.ingestLogs({ family, schema, logs: events(300) });
    const home = ingested.shard;
    const to = otherShard(home);
    expect(await client.family(family).move()).toBeNull();
    const before = await client.family(family).rows({ limit: 1000 });

    const started = await client.moveFamily(family, to);
    expect(started).toMatchObject({ family, from: home, to, state: 'copying', finishedAt: null, error: null });
    expect(started.moveId).toMatch(/^[0-9a-f]+$/);
    const done = await waitForMove(client, family);
    // `shard` is read before `move` in one answer: the one that sees `done` may still name the source, every later one names the target.
    expect([home, to]).toContain(done.shard);
    expect((await client.request(FamilyMoveDocument, { name: family })).family.shard).toBe(to);
    expect(done.move).toMatchObject({ family, moveId: started.moveId, from: home, to, state: 'done', copiedRows: 300, totalRows: 300, error: null });
    expect(Date.parse(done.move!.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(done.move!.startedAt));
    // The source's old table is dropped right after the switch (--move_source_grace_seconds=0).
    await gateway.app.services.moves.idle();

    // Every row on the target, as it was; nothing of the family on the source.
    const target = specNamed(shards, to);
    const source = specNamed(shards, home);
    expect(await onShard(target, `SELECT COUNT(*) AS n, SUM(seq) AS s FROM \`${family}\``)).toEqual([{ n: 300, s: '44850' }]);
    expect(await tableExists(source, family)).toBe(false);
    expect(await tableExists(source, `databalancer_moved_${started.moveId}`)).toBe(false);
    expect(await client.family(family).rows({ limit: 1000 })).toEqual({ ...before, shard: to, elapsedMs: expect.any(Number) });
    expect((await client.rawQuery(`SELECT COUNT(*) AS n FROM raw_logs WHERE family = '${family}'`)).results).toEqual([{ n: 300 }]);
    expect((await client.ingestLogs({ family, schema, logs: events(1) })).shard).toBe(to);
    expect((await client.describe()).tables.find((t) => t.name === family)?.shard).toBe(to);

    // Family.move keeps the last move; moving it to where it is now is bad input.
    expect(await client.family(family).move()).toMatchObject({ moveId: started.moveId, state: 'done' });
    expect((await failure(client.moveFamily(family, to))).code).toBe('BAD_USER_INPUT');
  });
});

describe('the refusals', () => {
  it('answer with the codes (and messages) REST answers', async () => {
    const family = uniqueFamily('gqlmv_no');
    const home = (await client.ingestLogs({ family, schema, logs: events(1) })).shard;

    const unknown = await failure(client.moveFamily(family, 'no_such_shard'));
    expect(unknown.code).toBe('BAD_USER_INPUT');
    const rest = await api(gateway, 'POST', `/api/families/${family}/move`, { to: 'no_such_shard' });
    expect(rest.body.error.code).toBe('BAD_USER_INPUT');
    expect(unknown.message).toBe(rest.body.error.message);
    expect(unknown.extensions).toMatchObject({ field: 'to', shard: 'no_such_shard' });

    expect((await failure(client.moveFamily(family, home))).code).toBe('BAD_USER_INPUT');
    expect((await failure(client.moveFamily(family, ''))).code).toBe('BAD_USER_INPUT');
    expect((await failure(client.moveFamily(uniqueFamily('gqlmv_ghost'), home))).code).toBe('FAMILY_NOT_FOUND');
    expect((await failure(client.moveFamily('not a name', home))).code).toBe('INVALID_FAMILY_NAME');
    expect((await failure(client.cancelFamilyMove(family))).code).toBe('MOVE_NOT_FOUND');
    expect((await failure(client.cancelFamilyMove(uniqueFamily('gqlmv_ghost')))).code).toBe('FAMILY_NOT_FOUND');
    // Nothing was started by any of them.
    expect(await client.family(family).move()).toBeNull();
    expect((await client.family(family).get()).shard).toBe(home);
  });
});

describe('cancelFamilyMove', () => {
  it('cancels a slow move: FAMILY_MOVING meanwhile, then the family stays, every row with it, the target clean', async () => {
    const family = uniqueFamily('gqlmv_cancel');
    const home = (await client.ingestLogs({ family, schema, logs: events(2000) })).shard;
    const to = otherShard(home);
    // 200 rows per second: the copy of 2000 rows takes 10 s, long enough to cancel it.
    const slow = await startGateway(shards, ['--move_rows_per_second=200', '--move_batch_rows=100']);
    try {
      const slowClient = createClient({ url: `${slow.url}/graphql` });
      const started = await slowClient.moveFamily(family, to);
      expect(started).toMatchObject({ family, from: home, to, state: 'copying' });
      const again = await failure(client.moveFamily(family, to));
      expect(again.code).toBe('FAMILY_MOVING');
      expect(again.extensions).toMatchObject({ family, moveId: started.moveId });
      expect((await failure(client.purgeLogs(family, '2000-01-01T00:00:00Z'))).code).toBe('FAMILY_MOVING');
      await new Promise((resolve) => setTimeout(resolve, 600));
      const moving = await client.family(family).move();
      expect(moving?.state).toMatch(/^(copying|catching_up)$/);

      const cancelled = await client.cancelFamilyMove(family);
      expect(cancelled).toMatchObject({ family, moveId: started.moveId, from: home, to, state: 'cancelled' });
      expect(cancelled.finishedAt).not.toBeNull();
      await slow.app.services.moves.idle();

      expect(await tableExists(specNamed(shards, to), `databalancer_move_${started.moveId}`)).toBe(false);
      expect(await tableExists(specNamed(shards, to), family)).toBe(false);
      const after = await client.request(FamilyMoveDocument, { name: family });
      expect(after.family.shard).toBe(home);
      expect(after.family.move).toMatchObject({ moveId: started.moveId, state: 'cancelled' });
      expect((await client.rawQuery(`SELECT COUNT(*) AS n FROM ${family}`)).results).toEqual([{ n: 2000 }]);
      expect((await client.ingestLogs({ family, schema, logs: events(1) })).shard).toBe(home);
      expect((await failure(client.cancelFamilyMove(family))).code).toBe('MOVE_NOT_FOUND');
    } finally {
      await slow.close();
    }
  });
});

/** The ids of a rebalance plan (the SDK's operations select none). */
const IDS = parse('{ rebalance { id before { id } after { id } } }') as TypedDocumentNode<
  { rebalance: { id: string; before: Array<{ id: string }>; after: Array<{ id: string }> } },
  Record<string, never>
>;

describe('rebalance and runRebalance', () => {
  it('list every shard before and after, ordered by name, on a database no other test uses', async () => {
    // A database of its own: runRebalance must not queue moves of other files' families.
    const own = await startGateway(shards, [], { database: `gqlmv_${randomBytes(4).toString('hex')}` });
    try {
      const db = createClient({ url: `${own.url}/graphql` });
      const names = shards.map((s) => s.name).sort();
      const plan = await db.rebalance();
      expect(plan.before.map((s) => s.shard)).toEqual(names);
      expect(plan.after.map((s) => s.shard)).toEqual(names);
      expect(plan.before.every((s) => s.rows === 0)).toBe(true);
      expect(plan.moves).toEqual([]);
      const run = await db.runRebalance();
      expect(run.plan).toEqual(plan);
      expect(run.queued).toEqual([]);
      // The ids caches normalise by.
      const ids = await db.request(IDS, {});
      expect(ids.rebalance.id).toBe('rebalance');
      expect(ids.rebalance.before.map((s) => s.id)).toEqual(names.map((n) => `rebalance.before.${n}`));
      expect(ids.rebalance.after.map((s) => s.id)).toEqual(names.map((n) => `rebalance.after.${n}`));
    } finally {
      await own.close();
    }
  });
});

describe('with access control on', () => {
  const run = randomBytes(4).toString('hex');
  const secrets = { boss: `boss-${run}`, querier: `query-${run}`, ingester: `ingest-${run}`, dogadmin: `dogadmin-${run}` } as const;
  const ok = `gqlmv${run}_ok`;
  const no = `gqlmv${run}_no`;
  let dir: string;
  let guarded: TestGateway;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'graphql-move-'));
    const tokensFile = path.join(dir, 'tokens.json');
    writeFileSync(
      tokensFile,
      JSON.stringify({
        tokens: [
          { name: 'boss', token: secrets.boss, scopes: ['admin'] },
          { name: 'querier', token: secrets.querier, scopes: ['query'] },
          { name: 'ingester', token: secrets.ingester, scopes: ['ingest'] },
          { name: 'dogadmin', token: secrets.dogadmin, scopes: ['admin'], families: [`gqlmv${run}_ok*`] },
        ],
      }),
    );
    // Its own database too: runRebalance with an admin token must not move other files' families.
    guarded = await startGateway(shards, [`--tokens_file=${tokensFile}`], { database: `gqlmv_acl_${run}`, access: { watchIntervalMs: 0 } });
    for (const family of [ok, no]) {
      const answer = await api(guarded, 'PUT', '/api/log', { family, schema, logs: events(3) }, { authorization: `Bearer ${secrets.boss}` });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    }
  });
  afterAll(async () => {
    await guarded?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  function gql(token: keyof typeof secrets, query: string, variables: Record<string, unknown> = {}) {
    return api(guarded, 'POST', '/graphql', { query, variables }, { authorization: `Bearer ${secrets[token]}` });
  }

  const operations = [
    { name: 'moveFamily', query: 'mutation($f: String!) { moveFamily(family: $f, to: "no_such_shard") { state } }' },
    { name: 'cancelFamilyMove', query: 'mutation($f: String!) { cancelFamilyMove(family: $f) { state } }' },
    { name: 'runRebalance', query: 'mutation { runRebalance { queued { state } } }' },
    { name: 'rebalance', query: '{ rebalance { moves { family } } }' },
  ];

  it.each(operations)('$name: FORBIDDEN (403) naming the admin scope without it; runs with it', async ({ name, query }) => {
    for (const token of ['querier', 'ingester'] as const) {
      const refused = await gql(token, query, { f: ok });
      expect(refused.status, JSON.stringify(refused.body)).toBe(403);
      expect(refused.body.errors[0].extensions.code).toBe('FORBIDDEN');
      expect(refused.body.errors[0].message).toContain('"admin"');
      expect(refused.body.errors[0].path).toEqual([name]);
      expect(refused.body.data ?? null).toBeNull();
    }
    const allowed = await gql('boss', query, { f: ok });
    expect(allowed.status).toBe(200);
    // Past access: the service answers (a shard that does not exist, no move to cancel) or the field runs.
    const code = allowed.body.errors?.[0]?.extensions?.code;
    expect([undefined, 'BAD_USER_INPUT', 'MOVE_NOT_FOUND']).toContain(code);
    if (code === undefined) expect(allowed.body.data[name]).toBeTruthy();
  });

  it('a token restricted by families moves only its families', async () => {
    const refused = await gql('dogadmin', operations[0]!.query, { f: no });
    expect(refused.status).toBe(403);
    expect(refused.body.errors[0].extensions.code).toBe('FORBIDDEN');
    expect(refused.body.errors[0].message).toContain(no);
    const allowed = await gql('dogadmin', operations[0]!.query, { f: ok });
    expect(allowed.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });

  it('Family.move needs admin: without it the field alone is null with FORBIDDEN, the family still answers', async () => {
    const query = 'query($f: String!) { family(name: $f) { name shard move { state } } }';
    const refused = await gql('querier', query, { f: ok });
    expect(refused.status).toBe(200);
    expect(refused.body.data.family).toMatchObject({ name: ok, move: null });
    expect(refused.body.errors).toHaveLength(1);
    expect(refused.body.errors[0].extensions.code).toBe('FORBIDDEN');
    expect(refused.body.errors[0].path).toEqual(['family', 'move']);
    const allowed = await gql('boss', query, { f: ok });
    expect(allowed.body.errors).toBeUndefined();
    expect(allowed.body.data.family).toMatchObject({ name: ok, move: null });
    const restricted = await gql('dogadmin', 'query($f: String!) { family(name: $f) { move { state } } }', { f: no });
    expect(restricted.status).toBe(403);
    expect(restricted.body.errors[0].extensions.code).toBe('FORBIDDEN');
  });
});
