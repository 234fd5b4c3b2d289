/**
 * Query scenarios: 5 (a primary-key lookup and a 100-row filtered
 * ORDER BY ... LIMIT through POST /api/query, against mysql2 running the same
 * SQL on the same shard) and the query half of 7 (GraphQL rawQuery vs REST).
 * One client on each side: the figure of interest is the latency the gateway
 * adds, which queueing on two cores would blur.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type mysql from 'mysql2/promise';
import { startBaselineServer } from '../lib/baseline-servers.js';
import { compare, directTarget, gatewayCall, resultOf, withDirect, type BenchContext, type ScenarioResult, type ShardTarget } from '../lib/context.js';
import { BREEDS, DOG_FIELDS, graphqlQueryBody, makeEvents, quoteId, restIngestBody, restQueryBody } from '../lib/data.js';
import { openDirect, runHttpLoad, runSqlLoad, type HttpJob } from '../lib/load.js';
import { graphqlAvailable, placeFamilies } from './ingest.js';

/** Concurrent clients of the query scenarios. */
const QUERY_CONNECTIONS = 1;
/** Distinct SQL texts per query kind. */
const DISTINCT_TEXTS = 20_000;
/** Events per loading request. */
const LOAD_BATCH = 5000;

/** The loaded query family and its statements. */
export interface QueryFixture {
  family: string;
  shard: ShardTarget;
  rows: number;
  /** Distinct primary-key lookups (20000 ids spread over the table). */
  pkQueries: string[];
  /** Distinct 100-row filtered ORDER BY ... LIMIT queries (20000 texts). */
  filterQueries: string[];
}

/**
 * Loads `rows` dog-shaped events into one family through the gateway
 * (5000-event PUTs, two at a time) and prepares the statements.
 */
export async function loadQueryFixture(ctx: BenchContext, rows: number): Promise<QueryFixture> {
  const family = `s5_query_${ctx.stamp}`;
  const placement = await placeFamilies(ctx, [family], DOG_FIELDS);
  const shard = placement.get(family) as ShardTarget;
  const requests = Math.ceil(rows / LOAD_BATCH);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < requests) {
      const i = next++;
      await gatewayCall(ctx, 'PUT', '/api/log', restIngestBody(family, DOG_FIELDS, makeEvents(DOG_FIELDS, LOAD_BATCH, 500 + i)));
    }
  };
  await Promise.all([worker(), worker()]);
  const [minId, maxId] = await withDirect(shard, ctx.gatewayDb, async (c) => {
    await c.query(`ANALYZE TABLE ${quoteId(family)}`);
    const [result] = await c.query<mysql.RowDataPacket[]>(`SELECT MIN(id) AS lo, MAX(id) AS hi FROM ${quoteId(family)}`);
    return [Number(result[0]?.['lo']), Number(result[0]?.['hi'])];
  });
  // Distinct SQL texts, so that no small cache keyed by the text can answer
  // for the gateway: 20000 ids spread over the table in a scrambled order;
  // and for 5b the 10 breeds times 2000 upper bounds on id just below the
  // top, which read about the same rows as the unbounded query. (More texts
  // make autocannon's set-up, which counts in a run's seconds, take longer.)
  const span = maxId - minId + 1;
  const count = Math.min(span, DISTINCT_TEXTS);
  const stride = 7919; // prime: i * stride mod count visits every slot once
  const pkQueries = Array.from(
    { length: count },
    (_, i) => `SELECT * FROM ${quoteId(family)} WHERE id = ${minId + Math.floor((((i * stride) % count) * span) / count)}`,
  );
  const filterQueries = Array.from({ length: DISTINCT_TEXTS }, (_, i) => {
    const breed = BREEDS[i % BREEDS.length] as string;
    return `SELECT id, name, breed, weight FROM ${quoteId(family)} WHERE breed = '${breed}' AND weight > 10 AND id <= ${maxId - Math.floor(i / BREEDS.length)} ORDER BY id DESC LIMIT 100`;
  });
  return { family, shard, rows: requests * LOAD_BATCH, pkQueries, filterQueries };
}

async function directQuerySide(ctx: BenchContext, shard: ShardTarget, statements: readonly string[]): Promise<{ side: (s: number) => ReturnType<typeof runSqlLoad>; close: () => Promise<void> }> {
  const connections = await Promise.all(Array.from({ length: QUERY_CONNECTIONS }, () => openDirect(directTarget(shard, ctx.gatewayDb))));
  return {
    side: (seconds) =>
      runSqlLoad({ connections: QUERY_CONNECTIONS, seconds }, async (worker, sequence) => {
        const connection = connections[worker];
        if (connection === undefined) throw new Error('no query session');
        await connection.query(statements[sequence % statements.length] as string);
      }),
    close: async () => {
      await Promise.all(connections.map((c) => c.end().catch(() => undefined)));
    },
  };
}

/** Milliseconds the gateway side's p50 lies above the baseline side's (NaN when a side is missing). */
function p50Added(measured: Awaited<ReturnType<typeof compare>>): number {
  return (measured.gateway?.p50 ?? Number.NaN) - (measured.baseline?.p50 ?? Number.NaN);
}

function restJobs(statements: readonly string[]): HttpJob[] {
  return statements.map((sql) => ({ method: 'POST', path: '/api/query', body: restQueryBody(sql) }));
}

function graphqlJobs(statements: readonly string[]): HttpJob[] {
  return statements.map((sql) => ({ method: 'POST', path: '/graphql', body: graphqlQueryBody(sql) }));
}

/** Scenario 5 (two rows of the report: 5a primary key, 5b filtered ORDER BY LIMIT 100). */
export async function queryScenarios(ctx: BenchContext, fixture: QueryFixture): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  const kinds: Array<[string, string, string[]]> = [
    ['5a', 'query: primary-key lookup', fixture.pkQueries],
    ['5b', 'query: 100-row filtered ORDER BY id DESC LIMIT 100', fixture.filterQueries],
  ];
  const passthrough = await startBaselineServer(
    ctx.root,
    'passthrough',
    ctx.gateway.build,
    directTarget(fixture.shard, ctx.gatewayDb),
    join(tmpdir(), `databalancer-bench-passthrough-${ctx.stamp}.log`),
  );
  try {
    for (const [id, title, statements] of kinds) {
      ctx.log(`scenario ${id}: ${title}`);
      const direct = await directQuerySide(ctx, fixture.shard, statements);
      try {
        const jobs = restJobs(statements);
        const measured = await compare(ctx, {
          unit: 'req/s',
          rowsPerOp: 1,
          gateway: (seconds) => runHttpLoad(ctx.gateway.url, jobs, { connections: QUERY_CONNECTIONS, seconds }),
          baseline: direct.side,
          others: { passthrough: (seconds) => runHttpLoad(passthrough.url, jobs, { connections: QUERY_CONNECTIONS, seconds }) },
        });
        const added = p50Added(measured);
        const pt = measured.others['passthrough'];
        const ptAdded = (pt?.p50 ?? Number.NaN) - (measured.baseline?.p50 ?? Number.NaN);
        const ratio = added / ptAdded;
        const result = resultOf(
          {
            id,
            title: `${title} (${fixture.rows} rows, ${QUERY_CONNECTIONS} client, ${statements.length} distinct SQL texts)`,
            unit: 'req/s',
            baselineLabel: 'mysql2 direct, same SQL, same shard',
            target: 'p50 added by the gateway <= 1 ms',
          },
          measured,
          () => added <= 1,
          [`p50 added by the gateway: ${added.toFixed(2)} ms; by the passthrough: ${ptAdded.toFixed(2)} ms`],
        );
        if (pt !== undefined) {
          result.userBaselines = [
            {
              name: 'passthrough',
              label: 'a separate node:http process: JSON.parse, the SQL on a mysql2 pool, JSON.stringify of the rows, same autocannon load',
              side: pt,
              ratio,
              ratioMeaning: '(gateway p50 - mysql2 p50) / (passthrough p50 - mysql2 p50)',
              target: '<= 1.3',
              met: Number.isFinite(ratio) ? ratio <= 1.3 : undefined,
            },
          ];
        }
        results.push(result);
      } finally {
        await direct.close();
      }
    }
  } finally {
    await passthrough.stop();
  }
  return results;
}

/** Scenario 7, query half: GraphQL rawQuery vs REST POST /api/query for both query kinds. */
export async function graphqlQueries(ctx: BenchContext, fixture: QueryFixture): Promise<ScenarioResult[]> {
  const kinds: Array<[string, string, string[]]> = [
    ['7b', 'GraphQL rawQuery vs REST: primary-key lookup', fixture.pkQueries],
    ['7c', 'GraphQL rawQuery vs REST: filtered ORDER BY LIMIT 100', fixture.filterQueries],
  ];
  const base = (id: string, title: string): Pick<ScenarioResult, 'id' | 'title' | 'unit' | 'baselineLabel' | 'target'> => ({
    id,
    title,
    unit: 'req/s',
    baselineLabel: 'the same SQL through REST POST /api/query, same run',
    // 7b's target is issue 13's, against a bare Apollo Server (it replaced issue 5's ratio to REST, which
    // measured Apollo's fixed per-request cost rather than the gateway's); 7c keeps issue 5's.
    target: id === '7b' ? 'GraphQL p50 <= 1.25 x bare Apollo p50 (issue 13)' : 'GraphQL >= 0.85 x REST req/s',
  });
  if (!(await graphqlAvailable(ctx))) {
    return kinds.map(([id, title]) => ({ ...base(id, title), notes: [], skipped: 'skipped: /graphql not available' }));
  }
  const results: ScenarioResult[] = [];
  const bare = await startBaselineServer(
    ctx.root,
    'bare-apollo',
    ctx.gateway.build,
    directTarget(fixture.shard, ctx.gatewayDb),
    join(tmpdir(), `databalancer-bench-bare-apollo-${ctx.stamp}.log`),
  );
  try {
    for (const [id, title, statements] of kinds) {
      ctx.log(`scenario ${id}: ${title}`);
      const graphql = graphqlJobs(statements);
      const rest = restJobs(statements);
      // The bare Apollo Server for the point lookup (7b) only.
      const withBare = id === '7b';
      const measured = await compare(ctx, {
        unit: 'req/s',
        rowsPerOp: 1,
        gateway: (seconds) => runHttpLoad(ctx.gateway.url, graphql, { connections: QUERY_CONNECTIONS, seconds }),
        baseline: (seconds) => runHttpLoad(ctx.gateway.url, rest, { connections: QUERY_CONNECTIONS, seconds }),
        others: withBare ? { 'bare Apollo': (seconds) => runHttpLoad(bare.url, graphql, { connections: QUERY_CONNECTIONS, seconds }) } : undefined,
      });
      const added = p50Added(measured);
      const result = resultOf(base(id, title), measured, (ratio) => ratio >= 0.85, [`p50 added by GraphQL over REST: ${added.toFixed(2)} ms`]);
      const apollo = measured.others['bare Apollo'];
      if (apollo !== undefined) {
        const ratio = (measured.gateway?.p50 ?? Number.NaN) / apollo.p50;
        result.userBaselines = [
          {
            name: 'bare Apollo',
            label:
              'a separate process: Apollo Server 5 on fastify via @as-integrations/fastify, one rawQuery resolver running the SQL on a mysql2 pool, the gateway\'s Apollo plugins disabled, same documents and load',
            side: apollo,
            ratio,
            ratioMeaning: 'gateway GraphQL p50 / bare Apollo p50 (1 client: the inverse of the req/s ratio)',
            target: '<= 1.25',
            met: Number.isFinite(ratio) ? ratio <= 1.25 : undefined,
          },
        ];
        result.met = result.userBaselines[0]?.met;
      }
      results.push(result);
    }
  } finally {
    await bare.stop();
  }
  return results;
}
