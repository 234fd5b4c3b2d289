/**
 * Ingest scenarios: 1 (bulk, 3 fields), 2 (30 families on every shard),
 * 3 (wide, 20 fields), 4 (small requests, 32 clients), the GraphQL ingest
 * half of 7, the seed's one-INSERT-per-event floor (8) and the RSS check.
 *
 * Baseline of 1-4: the same events written directly with mysql2 into tables
 * of the same shape on the same shard (database `ctx.baselineDb`), as
 * BEGIN; multi-row INSERT into the family table; multi-row INSERT of the JSON
 * copies into raw_logs; COMMIT, one transaction per request-sized batch, with
 * as many connections as the gateway has clients. SQL text is built before
 * the timed runs, as the HTTP bodies are, so neither client does per-request
 * serialisation work.
 */
import type mysql from 'mysql2/promise';
import {
  compare,
  copyTableShape,
  directTarget,
  gatewayCall,
  resultOf,
  shardById,
  withDirect,
  type BenchContext,
  type ScenarioResult,
  type ShardTarget,
} from '../lib/context.js';
import {
  DOG_FIELDS,
  WIDE_FIELDS,
  directInsertSql,
  graphqlIngestBody,
  makeBatches,
  makeEvents,
  quoteId,
  restIngestBody,
  singleEventSql,
  type DirectInsert,
  type FieldSpec,
  type LogEvent,
} from '../lib/data.js';
import { openDirect, runHttpLoad, runSqlLoad, type HttpJob, type LoadResult } from '../lib/load.js';
import { makeLoader, plainRawLogsSql, plainTableSql } from '../lib/loader.js';

/** Distinct batches per scenario; clients cycle through them. */
const DISTINCT_BATCHES = 8;

/**
 * Places `families` through the gateway (one small PUT each, which also
 * creates the table) and copies each family table and raw_logs into the
 * baseline database of the same shard. Returns family -> shard.
 */
export async function placeFamilies(ctx: BenchContext, families: readonly string[], fields: readonly FieldSpec[]): Promise<Map<string, ShardTarget>> {
  const placement = new Map<string, ShardTarget>();
  const seed = makeEvents(fields, 1, 7);
  for (const family of families) {
    const answer = await gatewayCall(ctx, 'PUT', '/api/log', restIngestBody(family, fields, seed));
    const shard = shardById(ctx, String(answer['shard']));
    placement.set(family, shard);
    await copyTableShape(ctx, shard, family, ctx.baselineDb);
  }
  return placement;
}

interface IngestJob {
  family: string;
  shard: ShardTarget;
  http: HttpJob;
  sql: DirectInsert;
}

/** Builds the request/transaction list: job i writes batch i % B into family i % F. */
function buildJobs(
  families: readonly string[],
  placement: ReadonlyMap<string, ShardTarget>,
  fields: readonly FieldSpec[],
  batches: readonly LogEvent[][],
  transport: 'rest' | 'graphql',
): IngestJob[] {
  const count = Math.max(families.length, batches.length);
  const now = new Date();
  return Array.from({ length: count }, (_, i) => {
    const family = families[i % families.length] as string;
    const batch = batches[i % batches.length] as LogEvent[];
    const shard = placement.get(family);
    if (shard === undefined) throw new Error(`family ${family} was not placed`);
    const body = transport === 'rest' ? restIngestBody(family, fields, batch) : graphqlIngestBody(family, fields, batch);
    return {
      family,
      shard,
      http: transport === 'rest' ? { method: 'PUT', path: '/api/log', body } : { method: 'POST', path: '/graphql', body },
      sql: directInsertSql(family, fields, batch, now),
    };
  });
}

/** Per worker, one direct connection per shard, in the baseline database. */
async function openSessions(ctx: BenchContext, workers: number, shards: Iterable<ShardTarget>): Promise<Array<Map<string, mysql.Connection>>> {
  const unique = [...new Map([...shards].map((s) => [s.id, s])).values()];
  return Promise.all(
    Array.from({ length: workers }, async () => {
      const map = new Map<string, mysql.Connection>();
      for (const shard of unique) map.set(shard.id, await openDirect(directTarget(shard, ctx.baselineDb)));
      return map;
    }),
  );
}

async function closeSessions(sessions: Array<Map<string, mysql.Connection>>): Promise<void> {
  await Promise.all(sessions.flatMap((m) => [...m.values()].map((c) => c.end().catch(() => undefined))));
}

/** One direct ingest transaction, as the gateway runs it. */
async function directTransaction(connection: mysql.Connection, sql: DirectInsert): Promise<void> {
  await connection.query('BEGIN');
  try {
    await connection.query(sql.familySql);
    if (sql.rawSql !== '') await connection.query(sql.rawSql);
    await connection.query('COMMIT');
  } catch (error) {
    await connection.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Parameters of one gateway-vs-direct ingest scenario. */
interface IngestSpec {
  id: string;
  title: string;
  families: string[];
  fields: readonly FieldSpec[];
  batchSize: number;
  connections: number;
  target: string;
  met: (ratio: number, p99: number) => boolean;
  seed: number;
  /** Also run the hand-written loader into plain tables (one family only), with this target for gateway/loader rows/s. */
  loaderTarget?: number | undefined;
}

/** The "loader" side: plain tables in ctx.loaderDb on the family's shard, the same batches, value arrays built in the timed loop. */
async function loaderSide(
  ctx: BenchContext,
  spec: IngestSpec,
  shard: ShardTarget,
  batches: readonly LogEvent[][],
): Promise<{ side: (seconds: number) => Promise<LoadResult>; close: () => Promise<void> }> {
  const family = spec.families[0] as string;
  // The baseline database exists by now (placeFamilies copied the family there).
  await withDirect(shard, ctx.baselineDb, async (c) => {
    await c.query(`CREATE DATABASE IF NOT EXISTS ${quoteId(ctx.loaderDb)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await c.query(`USE ${quoteId(ctx.loaderDb)}`);
    await c.query(`DROP TABLE IF EXISTS ${quoteId(family)}`);
    await c.query(plainTableSql(family, spec.fields));
    await c.query(plainRawLogsSql());
  });
  const loader = makeLoader(family, spec.fields, family);
  const connections = await Promise.all(Array.from({ length: spec.connections }, () => openDirect(directTarget(shard, ctx.loaderDb))));
  return {
    side: (seconds) =>
      runSqlLoad({ connections: spec.connections, seconds }, async (worker, sequence) => {
        const connection = connections[worker];
        if (connection === undefined) throw new Error('no loader session');
        await loader.write(connection, batches[(sequence + worker) % batches.length] as LogEvent[]);
      }),
    close: async () => {
      await Promise.all(connections.map((c) => c.end().catch(() => undefined)));
    },
  };
}

async function ingestScenario(ctx: BenchContext, spec: IngestSpec): Promise<ScenarioResult> {
  ctx.log(`scenario ${spec.id}: ${spec.title}`);
  const placement = await placeFamilies(ctx, spec.families, spec.fields);
  const batches = makeBatches(spec.fields, DISTINCT_BATCHES, spec.batchSize, spec.seed);
  const jobs = buildJobs(spec.families, placement, spec.fields, batches, 'rest');
  const sessions = await openSessions(ctx, spec.connections, placement.values());
  const loader = spec.loaderTarget !== undefined ? await loaderSide(ctx, spec, placement.get(spec.families[0] as string) as ShardTarget, batches) : undefined;
  try {
    const measured = await compare(ctx, {
      others: loader === undefined ? undefined : { loader: loader.side },
      unit: 'rows/s',
      rowsPerOp: spec.batchSize,
      gateway: (seconds) => runHttpLoad(ctx.gateway.url, jobs.map((j) => j.http), { connections: spec.connections, seconds }),
      baseline: (seconds) =>
        runSqlLoad({ connections: spec.connections, seconds }, async (worker, sequence) => {
          const job = jobs[sequence % jobs.length] as IngestJob;
          const connection = sessions[worker]?.get(job.shard.id);
          if (connection === undefined) throw new Error('no baseline session');
          await directTransaction(connection, job.sql);
        }),
    });
    const perShard = new Map<string, number>();
    for (const shard of placement.values()) perShard.set(shard.id, (perShard.get(shard.id) ?? 0) + 1);
    const notes = spec.families.length > 1 ? [`families per shard: ${[...perShard].map(([id, n]) => `${id} ${n}`).join(', ')}`] : [];
    const result = resultOf(
      {
        id: spec.id,
        title: spec.title,
        unit: 'rows/s',
        baselineLabel: `mysql2 direct: BEGIN; INSERT family ${spec.batchSize} rows with _raw; COMMIT; ${spec.connections} connections`,
        target: spec.target,
      },
      measured,
      (ratio, gateway) => spec.met(ratio, gateway?.p99 ?? Number.POSITIVE_INFINITY),
      notes,
    );
    const loaded = measured.others['loader'];
    if (loaded !== undefined && spec.loaderTarget !== undefined) {
      const ratio = measured.gateway !== undefined && loaded.value > 0 ? measured.gateway.value / loaded.value : undefined;
      result.userBaselines = [
        {
          name: 'loader',
          label: `hand-written mysql2 loader into plain tables (id + typed columns; raw_logs(id, family VARCHAR(64), log LONGTEXT)), BEGIN; INSERT ... VALUES ? (value arrays and JSON.stringify built per batch); INSERT raw_logs; COMMIT; ${spec.connections} connections`,
          side: loaded,
          ratio,
          ratioMeaning: 'gateway rows/s / loader rows/s',
          target: `>= ${spec.loaderTarget.toFixed(1)}`,
          met: ratio === undefined ? undefined : ratio >= spec.loaderTarget,
        },
      ];
    }
    return result;
  } finally {
    await closeSessions(sessions);
    await loader?.close();
  }
}

/** Scenario 1: 3 fields, 1000 events per PUT, 4 clients, one family. */
export function bulkIngest(ctx: BenchContext): Promise<ScenarioResult> {
  return ingestScenario(ctx, {
    id: '1',
    title: 'bulk ingest, 3 fields, 1000 events/request, 4 clients, 1 family',
    families: [`s1_dogs_${ctx.stamp}`],
    fields: DOG_FIELDS,
    batchSize: 1000,
    connections: 4,
    target: '>= 0.8 x baseline rows/s',
    met: (ratio) => ratio >= 0.8,
    seed: 1,
    loaderTarget: 1.0,
  });
}

/** Scenario 2: the same over 30 families spread by the ring over every shard. */
export function manyFamilies(ctx: BenchContext): Promise<ScenarioResult> {
  return ingestScenario(ctx, {
    id: '2',
    title: `bulk ingest, 30 families over ${ctx.shards.length} shards, 1000 events/request, 4 clients`,
    families: Array.from({ length: 30 }, (_, i) => `s2_f${String(i).padStart(2, '0')}_${ctx.stamp}`),
    fields: DOG_FIELDS,
    batchSize: 1000,
    connections: 4,
    target: '>= 0.8 x baseline rows/s',
    met: (ratio) => ratio >= 0.8,
    seed: 2,
  });
}

/** Scenario 3: 20 mixed-type fields, 1000 events per request. */
export function wideIngest(ctx: BenchContext): Promise<ScenarioResult> {
  return ingestScenario(ctx, {
    id: '3',
    title: 'wide ingest, 20 mixed-type fields, 1000 events/request, 4 clients',
    families: [`s3_wide_${ctx.stamp}`],
    fields: WIDE_FIELDS,
    batchSize: 1000,
    connections: 4,
    target: '>= 0.8 x baseline rows/s',
    met: (ratio) => ratio >= 0.8,
    seed: 3,
    loaderTarget: 0.9,
  });
}

/** Scenario 4: 10 events per request, 32 clients (latency-bound). Reported as req/s. */
export async function smallRequests(ctx: BenchContext): Promise<ScenarioResult> {
  const result = await ingestScenario(ctx, {
    id: '4',
    title: 'small requests, 10 events/request, 32 clients',
    families: [`s4_small_${ctx.stamp}`],
    fields: DOG_FIELDS,
    batchSize: 10,
    connections: 32,
    target: '>= 0.7 x baseline req/s; p99 < 50 ms',
    met: (ratio, p99) => ratio >= 0.7 && p99 < 50,
    seed: 4,
  });
  // Same runs, expressed per request: rows/s divided by 10.
  const toReq = (side: ScenarioResult['gateway']): ScenarioResult['gateway'] => (side === undefined ? undefined : { ...side, value: side.value / 10 });
  return { ...result, unit: 'req/s', gateway: toReq(result.gateway), baseline: toReq(result.baseline) };
}

/** True when POST /graphql answers a trivial query. */
export async function graphqlAvailable(ctx: BenchContext): Promise<boolean> {
  try {
    const response = await fetch(`${ctx.gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    if (response.status !== 200) return false;
    const body = (await response.json()) as { data?: unknown };
    return body.data !== undefined && body.data !== null;
  } catch {
    return false;
  }
}

/** Scenario 7, ingest half: scenario 1's load sent as the GraphQL ingestLogs mutation vs as REST PUTs, alternating. */
export async function graphqlIngest(ctx: BenchContext): Promise<ScenarioResult> {
  const base = {
    id: '7a',
    title: 'GraphQL ingestLogs vs REST PUT (scenario 1 load)',
    unit: 'rows/s' as const,
    baselineLabel: 'the same load through REST PUT /api/log, same run',
    target: 'GraphQL >= 0.95 x REST (issue 13)',
  };
  if (!(await graphqlAvailable(ctx))) return { ...base, notes: [], skipped: 'skipped: /graphql not available' };
  ctx.log('scenario 7a: GraphQL ingest vs REST');
  const family = `s7_dogs_${ctx.stamp}`;
  const placement = await placeFamilies(ctx, [family], DOG_FIELDS);
  const batches = makeBatches(DOG_FIELDS, DISTINCT_BATCHES, 1000, 1);
  const graphqlJobs = buildJobs([family], placement, DOG_FIELDS, batches, 'graphql').map((j) => j.http);
  const restJobs = buildJobs([family], placement, DOG_FIELDS, batches, 'rest').map((j) => j.http);
  const measured = await compare(ctx, {
    unit: 'rows/s',
    rowsPerOp: 1000,
    gateway: (seconds) => runHttpLoad(ctx.gateway.url, graphqlJobs, { connections: 4, seconds }),
    baseline: (seconds) => runHttpLoad(ctx.gateway.url, restJobs, { connections: 4, seconds }),
  });
  return resultOf(base, measured, (ratio) => ratio >= 0.95);
}

/**
 * Scenario 8: the seed's design as the floor: every event written by its own
 * awaited INSERT into the family table and its own awaited INSERT into
 * raw_logs (autocommit), 4 connections, direct with mysql2. The ratio is
 * scenario 1's gateway rows/s over this floor.
 */
export async function seedFloor(ctx: BenchContext): Promise<ScenarioResult> {
  ctx.log('scenario 8: seed design floor (one awaited INSERT per event)');
  const family = `s8_floor_${ctx.stamp}`;
  const placement = await placeFamilies(ctx, [family], DOG_FIELDS);
  const shard = placement.get(family) as ShardTarget;
  const now = new Date();
  const statements = makeEvents(DOG_FIELDS, 4000, 8).map((event) => singleEventSql(family, DOG_FIELDS, event, now));
  const sessions = await openSessions(ctx, 4, [shard]);
  try {
    const measured = await compare(ctx, {
      unit: 'rows/s',
      rowsPerOp: 1,
      baseline: (seconds) =>
        runSqlLoad({ connections: 4, seconds }, async (worker, sequence) => {
          const sql = statements[sequence % statements.length] as DirectInsert;
          const connection = sessions[worker]?.get(shard.id);
          if (connection === undefined) throw new Error('no floor session');
          await connection.query(sql.familySql);
          if (sql.rawSql !== '') await connection.query(sql.rawSql);
        }),
    });
    const s1 = ctx.results.get('1')?.gateway;
    const result = resultOf(
      {
        id: '8',
        title: 'floor: seed design, one awaited INSERT per event (+ its raw_logs INSERT), 4 connections',
        unit: 'rows/s',
        baselineLabel: 'mysql2 direct, autocommit, 2 awaited INSERTs per event',
        target: 'reference (how far scenario 1 is past it)',
      },
      { gateway: s1, baseline: measured.baseline, peakRss: 0 },
      () => undefined,
      s1 === undefined ? ['scenario 1 did not run: no gateway figure to compare'] : ['gateway column = scenario 1 gateway rows/s; ratio = how many times the floor'],
    );
    return result;
  } finally {
    await closeSessions(sessions);
  }
}

/**
 * RSS check: three back-to-back ingest runs of scenario 1's load, each
 * `rssSeconds` long; the gateway's VmRSS is sampled every 100 ms. Target:
 * peak under 300 MB and no growth (run 3's peak within 10% of run 1's).
 */
export async function rssCheck(ctx: BenchContext): Promise<ScenarioResult> {
  const seconds = ctx.options.rssSeconds;
  ctx.log(`RSS check: 3 x ${seconds} s ingest`);
  const family = `rss_dogs_${ctx.stamp}`;
  const placement = await placeFamilies(ctx, [family], DOG_FIELDS);
  const batches = makeBatches(DOG_FIELDS, DISTINCT_BATCHES, 1000, 9);
  const jobs = buildJobs([family], placement, DOG_FIELDS, batches, 'rest').map((j) => j.http);
  const peaks: number[] = [];
  const ends: number[] = [];
  const runs: LoadResult[] = [];
  for (let i = 0; i < 3; i++) {
    ctx.sampler.start();
    runs.push(await runHttpLoad(ctx.gateway.url, jobs, { connections: 4, seconds }));
    peaks.push(ctx.sampler.stop());
    ends.push(ctx.sampler.lastBytes);
  }
  const mb = (b: number): string => (b / 1048576).toFixed(0);
  const peak = Math.max(...peaks);
  const first = peaks[0] ?? 0;
  const last = peaks[2] ?? 0;
  const growth = first > 0 ? last / first : Number.NaN;
  const rates = runs.map((r) => (r.ops * 1000) / r.seconds);
  const errors = runs.reduce((s, r) => s + r.errors, 0);
  return {
    id: 'rss',
    title: `RSS check: 3 back-to-back ${seconds} s ingest runs (scenario 1 load)`,
    unit: 'rows/s',
    gateway: {
      value: rates[1] ?? 0,
      p50: runs[1]?.p50 ?? Number.NaN,
      p99: runs[1]?.p99 ?? Number.NaN,
      errors,
      firstError: runs.find((r) => r.firstError !== undefined)?.firstError,
      runs,
    },
    gatewayPeakRss: peak,
    baselineLabel: 'run 1 peak RSS',
    ratio: growth,
    target: 'peak RSS < 300 MB; run-3 peak <= 1.1 x run-1 peak',
    met: peak < 300 * 1048576 && growth <= 1.1,
    notes: [`peak RSS per run (MB): ${peaks.map(mb).join(', ')}; RSS at end of each run: ${ends.map(mb).join(', ')}`, 'ratio = run-3 peak / run-1 peak'],
    extra: { peaks, ends, rowsPerSecond: rates },
  };
}
