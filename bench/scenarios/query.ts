/**
 * Query scenarios: 5 (a primary-key lookup and a 100-row filtered
 * ORDER BY ... LIMIT through POST /api/query, against mysql2 running the same
 * SQL on the same shard) and the query half of 7 (GraphQL rawQuery vs REST).
 * One client on each side: the figure of interest is the latency the gateway
 * adds, which queueing on two cores would blur.
 */
import type mysql from 'mysql2/promise';
import { compare, directTarget, gatewayCall, resultOf, withDirect, type BenchContext, type ScenarioResult, type ShardTarget } from '../lib/context.js';
import { BREEDS, DOG_FIELDS, graphqlQueryBody, makeEvents, quoteId, restIngestBody, restQueryBody } from '../lib/data.js';
import { openDirect, runHttpLoad, runSqlLoad, type HttpJob } from '../lib/load.js';
import { graphqlAvailable, placeFamilies } from './ingest.js';

/** Concurrent clients of the query scenarios. */
const QUERY_CONNECTIONS = 1;
/** Events per loading request. */
const LOAD_BATCH = 5000;

/** The loaded query family and its statements. */
export interface QueryFixture {
  family: string;
  shard: ShardTarget;
  rows: number;
  /** Distinct primary-key lookups. */
  pkQueries: string[];
  /** Distinct 100-row filtered ORDER BY ... LIMIT queries. */
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
  const pkQueries = Array.from({ length: 256 }, (_, i) => {
    const id = minId + Math.floor(((i * 7919) % 256) * ((maxId - minId) / 256));
    return `SELECT * FROM ${quoteId(family)} WHERE id = ${id}`;
  });
  const filterQueries = BREEDS.map(
    (breed) => `SELECT id, name, breed, weight FROM ${quoteId(family)} WHERE breed = '${breed}' AND weight > 10 ORDER BY id DESC LIMIT 100`,
  );
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
      });
      const added = p50Added(measured);
      results.push(
        resultOf(
          {
            id,
            title: `${title} (${fixture.rows} rows, ${QUERY_CONNECTIONS} client)`,
            unit: 'req/s',
            baselineLabel: 'mysql2 direct, same SQL, same shard',
            target: 'p50 added by the gateway <= 1 ms',
          },
          measured,
          () => added <= 1,
          [`p50 added by the gateway: ${added.toFixed(2)} ms`],
        ),
      );
    } finally {
      await direct.close();
    }
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
    target: 'GraphQL >= 0.85 x REST req/s',
  });
  if (!(await graphqlAvailable(ctx))) {
    return kinds.map(([id, title]) => ({ ...base(id, title), notes: [], skipped: 'skipped: /graphql not available' }));
  }
  const results: ScenarioResult[] = [];
  for (const [id, title, statements] of kinds) {
    ctx.log(`scenario ${id}: ${title}`);
    const measured = await compare(ctx, {
      unit: 'req/s',
      rowsPerOp: 1,
      gateway: (seconds) => runHttpLoad(ctx.gateway.url, graphqlJobs(statements), { connections: QUERY_CONNECTIONS, seconds }),
      baseline: (seconds) => runHttpLoad(ctx.gateway.url, restJobs(statements), { connections: QUERY_CONNECTIONS, seconds }),
    });
    const added = p50Added(measured);
    results.push(resultOf(base(id, title), measured, (ratio) => ratio >= 0.85, [`p50 added by GraphQL over REST: ${added.toFixed(2)} ms`]));
  }
  return results;
}
