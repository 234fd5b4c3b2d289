/**
 * Family patterns on the osquery and schemaless ingest routes, against real
 * shards: a token restricted to `pack_allowed_*` may write only those
 * families through POST /api/osquery/results, GraphQL ingestOsquery,
 * POST /api/log/{family} and GraphQL ingestEvents. A body touching one
 * forbidden family is refused whole (403 FORBIDDEN naming it) and writes
 * nothing anywhere: no table, no row, no raw copy, no placement, no column,
 * no family source in the catalog. events_per_minute is charged by rows
 * (across families), and a refused request charges nothing.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FAMILY_SOURCES_TABLE } from '../../src/shards/catalog.js';
import { api, onShard, snapshotFamily, startGateway, type ApiResponse, type FamilySnapshot, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');

const SECRETS = {
  packs: `packs-${randomBytes(12).toString('hex')}`,
  metered: `metered-${randomBytes(12).toString('hex')}`,
  exact: `exact-${randomBytes(12).toString('hex')}`,
} as const;
/** The one family the `exact` token may write. */
const EXACT = `pack_exact_${randomBytes(4).toString('hex')}_x`;
type TokenName = keyof typeof SECRETS;

let dir: string;
let gateway: TestGateway;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'access-osquery-'));
  const tokensFile = path.join(dir, 'tokens.json');
  writeFileSync(
    tokensFile,
    JSON.stringify({
      tokens: [
        { name: 'packs', token: SECRETS.packs, scopes: ['ingest'], families: ['pack_allowed_*'] },
        { name: 'exact', token: SECRETS.exact, scopes: ['ingest'], families: [EXACT] },
        { name: 'metered', token: SECRETS.metered, scopes: ['ingest'], families: ['pack_allowed_*'], limits: { events_per_minute: 3 } },
      ],
    }),
  );
  // A clock standing still in the middle of a minute window: the events budget never renews during the test.
  const frozen = Date.UTC(2024, 2, 13, 9, 15, 30);
  gateway = await startGateway(shards, [`--tokens_file=${tokensFile}`], { access: { clock: () => new Date(frozen), watchIntervalMs: 0 } });
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  rmSync(dir, { recursive: true, force: true });
});

const hex = (): string => randomBytes(4).toString('hex');

function as(token: TokenName, method: string, route: string, body: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
  return api(gateway, method, route, body, { authorization: `Bearer ${SECRETS[token]}`, ...headers });
}

/** POST /api/osquery/results with NDJSON lines. */
function results(token: TokenName, lines: string): Promise<ApiResponse> {
  return fetch(`${gateway.url}/api/osquery/results`, {
    method: 'POST',
    body: lines,
    headers: { authorization: `Bearer ${SECRETS[token]}`, 'content-type': 'application/x-ndjson' },
  }).then(async (r) => ({ status: r.status, headers: r.headers, body: JSON.parse(await r.text()) }) as ApiResponse);
}

function gql(token: TokenName, query: string, variables: Record<string, unknown>): Promise<ApiResponse> {
  return as(token, 'POST', '/graphql', { query, variables });
}

/** One osquery event-format record of query `name`. */
function record(name: string, pid: number): string {
  return JSON.stringify({
    name,
    hostIdentifier: 'web-01',
    calendarTime: 'Wed Mar 13 09:15:02 2024 UTC',
    unixTime: 1710321302,
    epoch: 0,
    counter: pid,
    numerics: false,
    columns: { pid: String(pid), path: '/usr/sbin/nginx' },
    action: 'added',
  });
}

const EMPTY = (snapshot: FamilySnapshot): void => {
  expect(Object.values(snapshot.columns).every((c) => c === null), JSON.stringify(snapshot)).toBe(true);
  expect(Object.values(snapshot.rows).every((n) => n === 0)).toBe(true);
  expect(Object.values(snapshot.rawLogs).every((n) => n === 0)).toBe(true);
  expect(snapshot.placements).toEqual([]);
  expect(snapshot.declared).toEqual([]);
};

/** Proves nothing of `family` exists anywhere, the catalog's family sources included. */
async function expectNothingWritten(family: string): Promise<void> {
  EMPTY(await snapshotFamily(shards, family));
  const sources = await onShard(shards[0]!, `SELECT family FROM ${FAMILY_SOURCES_TABLE} WHERE family LIKE ?`, [`${family}%`]);
  expect(sources, `family sources of ${family}`).toEqual([]);
}

/**
 * 403 FORBIDDEN naming the family. On GraphQL a refusal found while a field
 * runs (ingestOsquery's families are in its records) is that field's error,
 * as ingestLogs' RATE_LIMITED: 200 with data null (`graphqlField`).
 */
function expectForbidden(answer: ApiResponse, family: string, graphqlField = false): void {
  expect(answer.status, JSON.stringify(answer.body)).toBe(graphqlField ? 200 : 403);
  const error = answer.body.error ?? answer.body.errors?.[0];
  const code = answer.body.error?.code ?? answer.body.errors?.[0]?.extensions?.code;
  expect(code).toBe('FORBIDDEN');
  expect(error.message).toContain(`family "${family}"`);
  expect(error.message).toMatch(/its families are pack_(allowed_\*|exact_)/);
}

const INGEST_OSQUERY = 'mutation ($lines: String!) { ingestOsquery(lines: $lines) { ingested families { family ingested } } }';
const INGEST_EVENTS = 'mutation ($family: String!, $events: [JSONObject!]!) { ingestEvents(family: $family, events: $events) { ingested } }';

describe('POST /api/osquery/results with a token restricted by families', () => {
  it('refuses a body touching an allowed and a forbidden family, and writes nothing anywhere', async () => {
    const allowed = `pack_allowed_${hex()}`;
    const forbidden = `pack_forbidden_${hex()}`;
    // The allowed family first: a write-as-you-go loop would have stored it before meeting the forbidden one.
    const answer = await results('packs', [record(allowed, 1), record(allowed, 2), record(forbidden, 3)].join('\n'));
    expectForbidden(answer, forbidden);
    await expectNothingWritten(allowed);
    await expectNothingWritten(forbidden);
  });

  it('refuses a query name that only becomes a forbidden family after naming', async () => {
    // `pack-allowed.x` is not `pack_allowed_*` as sent, but its family `pack_allowed_x` is: allowed. The reverse:
    const forbidden = `pack_forbidden-${hex()}`;
    const family = forbidden.replace('-', '_');
    const answer = await results('packs', record(forbidden, 1));
    expectForbidden(answer, family);
    await expectNothingWritten(family);
    const sent = `pack-allowed.${hex()}`;
    const named = sent.replace(/[-.]/g, '_');
    const ok = await results('packs', record(sent, 1));
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.families.map((f: { family: string }) => f.family)).toEqual([named]);
  });

  it('checks the hashed family a query moves to when its name maps to another query, before writing it', async () => {
    // EXACT is `<base>_x`; `<base>.x` and `<base>-x` both map to it: the second query goes to `<base>_x_<hash>`, which the token may not use.
    const base = EXACT.slice(0, -2);
    const dotted = `${base}.x`;
    const dashed = `${base}-x`;
    // Once the dotted query holds EXACT (catalog), the dashed one is refused for its hashed name, which nothing holds.
    const ok = await results('exact', record(dotted, 1));
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.families.map((f: { family: string }) => f.family)).toEqual([EXACT]);
    const refused = await results('exact', record(dashed, 2));
    expect(refused.status, JSON.stringify(refused.body)).toBe(403);
    const hashed = String(refused.body.error.family);
    expect(hashed).toMatch(new RegExp(`^${EXACT}_[0-9a-f]{8}$`));
    expectForbidden(refused, hashed);
    EMPTY(await snapshotFamily(shards, hashed));
    expect(await onShard(shards[0]!, `SELECT family FROM ${FAMILY_SOURCES_TABLE} WHERE family = ?`, [hashed])).toEqual([]);
  });

  it('writes a body whose families are all allowed', async () => {
    const a = `pack_allowed_${hex()}`;
    const b = `pack_allowed_${hex()}`;
    const answer = await results('packs', [record(a, 1), record(b, 2), record(a, 3)].join('\n'));
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.ingested).toBe(3);
    expect((await snapshotFamily(shards, a)).placements).toHaveLength(1);
    expect((await snapshotFamily(shards, b)).placements).toHaveLength(1);
  });
});

describe('GraphQL ingestOsquery with a token restricted by families', () => {
  it('refuses a forbidden family among allowed ones, writing nothing; writes an all-allowed batch', async () => {
    const allowed = `pack_allowed_${hex()}`;
    const forbidden = `pack_forbidden_${hex()}`;
    const refused = await gql('packs', INGEST_OSQUERY, { lines: [record(allowed, 1), record(forbidden, 2)].join('\n') });
    expectForbidden(refused, forbidden, true);
    expect(refused.body.data).toBeNull();
    expect(refused.body.errors[0].path).toEqual(['ingestOsquery']);
    await expectNothingWritten(allowed);
    await expectNothingWritten(forbidden);

    const ok = await gql('packs', INGEST_OSQUERY, { lines: [record(allowed, 1), record(allowed, 2)].join('\n') });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.errors).toBeUndefined();
    expect(ok.body.data.ingestOsquery).toEqual({ ingested: 2, families: [{ family: allowed, ingested: 2 }] });
  });
});

describe('schemaless ingest with a token restricted by families', () => {
  it('POST /api/log/{family} to a forbidden family is 403 and writes nothing', async () => {
    const forbidden = `pack_forbidden_${hex()}`;
    const answer = await as('packs', 'POST', `/api/log/${forbidden}`, [{ n: 1 }, { n: 2 }]);
    expectForbidden(answer, forbidden);
    await expectNothingWritten(forbidden);
    const allowed = `pack_allowed_${hex()}`;
    const ok = await as('packs', 'POST', `/api/log/${allowed}`, [{ n: 1 }, { n: 2 }]);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.ingested).toBe(2);
  });

  it('GraphQL ingestEvents to a forbidden family is 403 and writes nothing', async () => {
    const forbidden = `pack_forbidden_${hex()}`;
    const answer = await gql('packs', INGEST_EVENTS, { family: forbidden, events: [{ n: 1 }] });
    expectForbidden(answer, forbidden);
    await expectNothingWritten(forbidden);
  });
});

describe('events_per_minute on osquery results', () => {
  it('charges rows across families; a forbidden or over-limit batch charges and writes nothing', async () => {
    const a = `pack_allowed_${hex()}`;
    const b = `pack_allowed_${hex()}`;
    const forbidden = `pack_forbidden_${hex()}`;
    // Refused for the family: charges nothing (3 rows would use the whole budget).
    expectForbidden(await results('metered', [record(a, 1), record(a, 2), record(forbidden, 3)].join('\n')), forbidden);
    // 4 rows over two families are more than the 3 per minute: refused whole.
    const over = await results('metered', [record(a, 1), record(b, 2), record(a, 3), record(b, 4)].join('\n'));
    expect(over.status, JSON.stringify(over.body)).toBe(429);
    expect(over.body.error.code).toBe('RATE_LIMITED');
    await expectNothingWritten(a);
    await expectNothingWritten(b);
    // 3 rows over two families fit exactly: the forbidden request above charged nothing.
    const ok = await results('metered', [record(a, 1), record(b, 2), record(a, 3)].join('\n'));
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.ingested).toBe(3);
    // The budget is spent: one more row is refused.
    const more = await results('metered', record(b, 5));
    expect(more.status, JSON.stringify(more.body)).toBe(429);
  });
});
