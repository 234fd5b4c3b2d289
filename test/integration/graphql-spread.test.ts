/**
 * Spreading a family over shards through GraphQL (docs/big-families.md),
 * with the generated SDK against real shards: `setFamilyPlacement` over all
 * three shards (a part table on each, the answer the same as REST's
 * `GET /api/families/{family}/placement`), `Family.shards` / `spread` and
 * `Table.shards` showing every part, ingest reaching the new parts once they
 * are active, the refusals with REST's codes, and the admin scope with
 * access control on (checked against the family argument).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type DatabalancerClient } from '../../sdk/index.js';
import { PART_ACTIVATION_SECONDS } from '../../src/shards/shard-manager.js';
import { api, holdersOf, onShard, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';
import { failure } from './helpers/sdk-failure.js';

const shards = inject('shards');
/** A database of its own: a spread family in the shared one would make other files' raw_logs-by-family queries gather. */
const DATABASE = 'databalancer_graphql_spread';
const names = shards.map((s) => s.name);
let gateway: TestGateway;
let client: DatabalancerClient;

beforeAll(async () => {
  gateway = await startGateway(shards, [], { database: DATABASE });
  client = createClient({ url: `${gateway.url}/graphql` });
});
afterAll(async () => {
  await gateway?.close();
});

const schema = { seq: 'int', name: 'string' };
const events = (n: number, from = 0): Array<Record<string, unknown>> => Array.from({ length: n }, (_, i) => ({ seq: from + i, name: `dog ${from + i}` }));

/** `family(name) { shards spread }` on its own (the SDK's FamilyFields select more). */
const SHARDS = parse('query($name: String!) { family(name: $name) { id shards spread } }') as TypedDocumentNode<
  { family: { id: string; shards: string[]; spread: boolean } },
  { name: string }
>;

/** The mutation with the ids caches normalise by and the family after the change. */
const PLACE_WITH_FAMILY = parse(
  'mutation($family: String!, $shards: [String!]!) { setFamilyPlacement(family: $family, shards: $shards) { id family shards spread familyInfo { id name shard shards spread } } }',
) as TypedDocumentNode<
  { setFamilyPlacement: { id: string; family: string; shards: string[]; spread: boolean; familyInfo: { id: string; name: string; shard: string; shards: string[]; spread: boolean } } },
  { family: string; shards: string[] }
>;

describe('setFamilyPlacement', () => {
  it('spreads a family over all three shards: spread true, a part on each, Family and describe list every shard', async () => {
    const family = uniqueFamily('gqlsp');
    const home = (await client.ingestLogs({ family, schema, logs: events(3) })).shard;
    const others = names.filter((n) => n !== home);
    expect((await client.request(SHARDS, { name: family })).family).toEqual({ id: family, shards: [home], spread: false });

    // Parts keep their order: the shard the family was placed on first, then the new ones as listed.
    const placed = await client.setFamilyPlacement(family, names);
    expect(placed).toEqual({ family, shards: [home, ...others], spread: true });
    expect((await api(gateway, 'GET', `/api/families/${family}/placement`)).body).toEqual(placed);
    expect((await holdersOf(shards, family, DATABASE)).sort()).toEqual([...names].sort());

    expect((await client.request(SHARDS, { name: family })).family).toEqual({ id: family, shards: [home, ...others], spread: true });
    expect(await client.family(family).get()).toMatchObject({ name: family, shard: home, shards: [home, ...others], spread: true });
    expect((await client.families()).find((f) => f.name === family)).toMatchObject({ shards: [home, ...others], spread: true });
    expect((await client.describe()).tables.filter((t) => t.name === family)).toMatchObject([{ shard: home, shards: [home, ...others] }]);

    // Listing the same shards again changes nothing; the answer carries the family for caches.
    const again = await client.request(PLACE_WITH_FAMILY, { family, shards: [home, ...others] });
    expect(again.setFamilyPlacement).toEqual({
      id: family,
      family,
      shards: [home, ...others],
      spread: true,
      familyInfo: { id: family, name: family, shard: home, shards: [home, ...others], spread: true },
    });

    // Once the new parts take writes, requests go to every part, each event on one shard with an id of its own.
    await new Promise((resolve) => setTimeout(resolve, PART_ACTIVATION_SECONDS * 1000 + 300));
    const written = new Set<string>();
    for (let b = 0; b < 6; b++) written.add((await client.ingestLogs({ family, schema, logs: events(10, 100 + b * 10) })).shard);
    expect([...written].sort()).toEqual([...names].sort());
    const stored = (await Promise.all(shards.map((spec) => onShard<{ id: number; seq: number }>(spec, `SELECT id, seq FROM \`${family}\``, [], DATABASE)))).flat();
    expect(stored).toHaveLength(63);
    expect(new Set(stored.map((r) => String(r.id))).size).toBe(63);
    expect(new Set(stored.map((r) => r.seq)).size).toBe(63);
  }, 30_000);

  it('spreads a family before its first event', async () => {
    const family = uniqueFamily('gqlsp_new');
    expect(await client.setFamilyPlacement(family, names)).toEqual({ family, shards: names, spread: true });
    expect((await client.request(SHARDS, { name: family })).family).toEqual({ id: family, shards: names, spread: true });
  });
});

describe('the refusals', () => {
  it('answer with the codes (and messages) REST answers, and change nothing', async () => {
    const family = uniqueFamily('gqlsp_no');
    const home = (await client.ingestLogs({ family, schema, logs: events(1) })).shard;
    const other = names.find((n) => n !== home) as string;

    const unknown = await failure(client.setFamilyPlacement(family, [home, 'no_such_shard']));
    expect(unknown.code).toBe('BAD_USER_INPUT');
    const rest = await api(gateway, 'PUT', `/api/families/${family}/placement`, { shards: [home, 'no_such_shard'] });
    expect(rest.status).toBe(400);
    expect(unknown.message).toBe(rest.body.error.message);
    expect(unknown.extensions).toMatchObject({ field: 'shards', unknown: ['no_such_shard'] });
    expect((await failure(client.setFamilyPlacement(family, []))).code).toBe('BAD_USER_INPUT');
    expect((await failure(client.setFamilyPlacement(family, [home, home]))).code).toBe('BAD_USER_INPUT');
    // One shard other than its own: that is a move.
    expect((await failure(client.setFamilyPlacement(family, [other]))).code).toBe('BAD_USER_INPUT');
    expect((await failure(client.setFamilyPlacement('not a name', names))).code).toBe('INVALID_FAMILY_NAME');
    expect((await client.request(SHARDS, { name: family })).family).toEqual({ id: family, shards: [home], spread: false });
    expect(await holdersOf(shards, family, DATABASE)).toEqual([home]);

    // Spread over two, then leaving out a part it is on: refused, naming it.
    expect((await client.setFamilyPlacement(family, [home, other])).shards).toEqual([home, other]);
    const narrowed = await failure(client.setFamilyPlacement(family, [other]));
    expect(narrowed.code).toBe('BAD_USER_INPUT');
    expect(narrowed.extensions).toMatchObject({ field: 'shards', missing: [home] });
    const third = names.find((n) => n !== home && n !== other) as string;
    const leftOut = await failure(client.setFamilyPlacement(family, [other, third]));
    expect(leftOut.code).toBe('BAD_USER_INPUT');
    expect(leftOut.extensions).toMatchObject({ missing: [home] });
    expect((await client.request(SHARDS, { name: family })).family.shards).toEqual([home, other]);
    expect(await holdersOf(shards, family, DATABASE)).not.toContain(third);
  });
});

describe('with access control on', () => {
  const run = randomBytes(4).toString('hex');
  const secrets = { boss: `boss-${run}`, querier: `query-${run}`, ingester: `ingest-${run}`, dogadmin: `dogadmin-${run}` } as const;
  const ok = `gqlsp${run}_ok`;
  const no = `gqlsp${run}_no`;
  let dir: string;
  let guarded: TestGateway;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'graphql-spread-'));
    const tokensFile = path.join(dir, 'tokens.json');
    writeFileSync(
      tokensFile,
      JSON.stringify({
        tokens: [
          { name: 'boss', token: secrets.boss, scopes: ['admin'] },
          { name: 'querier', token: secrets.querier, scopes: ['query'] },
          { name: 'ingester', token: secrets.ingester, scopes: ['ingest'] },
          { name: 'dogadmin', token: secrets.dogadmin, scopes: ['admin'], families: [`gqlsp${run}_ok*`] },
        ],
      }),
    );
    guarded = await startGateway(shards, [`--tokens_file=${tokensFile}`], { access: { watchIntervalMs: 0 }, database: DATABASE });
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

  const place = 'mutation($f: String!, $s: [String!]!) { setFamilyPlacement(family: $f, shards: $s) { family shards spread } }';

  it('setFamilyPlacement: FORBIDDEN (403) naming the admin scope without it, nothing spread; runs with it', async () => {
    for (const token of ['querier', 'ingester'] as const) {
      const refused = await gql(token, place, { f: ok, s: names });
      expect(refused.status, JSON.stringify(refused.body)).toBe(403);
      expect(refused.body.errors[0].extensions.code).toBe('FORBIDDEN');
      expect(refused.body.errors[0].message).toContain('"admin"');
      expect(refused.body.errors[0].path).toEqual(['setFamilyPlacement']);
      expect(refused.body.data ?? null).toBeNull();
    }
    expect((await holdersOf(shards, ok, DATABASE)).length).toBe(1);
    // Family.shards and spread need only the query scope, as describe does.
    const read = await gql('querier', 'query($f: String!) { family(name: $f) { shards spread } }', { f: ok });
    expect(read.body.errors).toBeUndefined();
    expect(read.body.data.family.spread).toBe(false);
    const allowed = await gql('boss', place, { f: ok, s: names });
    expect(allowed.status).toBe(200);
    expect(allowed.body.errors).toBeUndefined();
    expect(allowed.body.data.setFamilyPlacement).toMatchObject({ family: ok, spread: true });
    expect((await holdersOf(shards, ok, DATABASE)).sort()).toEqual([...names].sort());
  });

  it('a token restricted by families spreads only its families', async () => {
    const refused = await gql('dogadmin', place, { f: no, s: names });
    expect(refused.status).toBe(403);
    expect(refused.body.errors[0].extensions.code).toBe('FORBIDDEN');
    expect(refused.body.errors[0].message).toContain(no);
    expect((await holdersOf(shards, no, DATABASE)).length).toBe(1);
    const allowed = await gql('dogadmin', place, { f: ok, s: [...names, 'no_such_shard'] });
    expect(allowed.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });
});
