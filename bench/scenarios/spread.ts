/**
 * Scenario 10: a spread family (issue 17) against one server holding the
 * same rows. Two families get the same events through the gateway: one
 * spread over every shard (`PUT /api/families/{family}/placement`), one on a
 * single shard. Reported: ingest rows/s into each (the same load, rounds
 * alternated), then p50 / p99 and requests/s of four query shapes against
 * each through `POST /api/query`, and whether both answered the same.
 *
 * Both sides go through the gateway, so the ratio is what spreading costs or
 * saves (the parts' partial aggregates merged on one server) against the
 * query running unchanged on the one server that holds every row. They run
 * on a gateway process of its own (same shards and catalog) with a longer
 * --query_timeout_ms: a GROUP BY over 3 million rows on one shard of a
 * loaded 2-core machine takes longer than the default 10 s.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { gatewayCall, resultOf, compare, type BenchContext, type ScenarioResult, type ShardTarget, type SideSummary } from '../lib/context.js';
import { processTreeCpuSeconds } from '../lib/cpu.js';
import { quoteId, restIngestBody, restQueryBody, type FieldSpec, type LogEvent } from '../lib/data.js';
import { RssSampler, startGateway } from '../lib/gateway.js';
import { runHttpLoad, type HttpJob, type LoadResult } from '../lib/load.js';
import { percentile, seededRandom } from '../lib/stats.js';

/** The event shape: a host among HOSTS, a status among STATUSES, bytes, a latency. */
const SPREAD_FIELDS: readonly FieldSpec[] = [
  { name: 'host', type: 'string' },
  { name: 'status', type: 'int' },
  { name: 'bytes', type: 'int' },
  { name: 'latency', type: 'float' },
];
const HOSTS = 100;
const STATUSES = 10;
/** bytes is uniform in [0, BYTES_RANGE); the count query keeps about a tenth. */
const BYTES_RANGE = 100_000;
const BYTES_CUT = 90_000;
/** Events per ingest request, clients of the ingest load, distinct request bodies cycled. */
const BATCH = 1000;
const INGEST_CONNECTIONS = 6;
const DISTINCT_BATCHES = 100;
/** A new part takes writes 5 s after it is recorded (docs/big-families.md); wait a little longer. */
const PART_WAIT_MS = 6500;
/** Clients of the query load (as scenarios 5 and 6: the latency is the figure). */
const QUERY_CONNECTIONS = 1;
/** Relative tolerance for doubles when the two answers are compared. */
const TOLERANCE = 1e-9;
/** --query_timeout_ms of the scenario's gateway, unless --gateway-arg gives one. */
const QUERY_TIMEOUT_MS = 300_000;

function shardUrl(shard: ShardTarget, database: string): string {
  const auth = `${encodeURIComponent(shard.user)}${shard.password === '' ? '' : `:${encodeURIComponent(shard.password)}`}`;
  return `${shard.id}=mysql://${auth}@${shard.host}:${shard.port}/${database}`;
}

function makeSpreadEvents(count: number, seed: number): LogEvent[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => ({
    host: `host-${String(Math.floor(random() * HOSTS)).padStart(3, '0')}`,
    status: Math.floor(random() * STATUSES),
    bytes: Math.floor(random() * BYTES_RANGE),
    latency: random() * 1000,
  }));
}

/** The query shapes, with `f` replaced by the family's quoted name; `ignore` lists columns that legitimately differ (ids). */
interface QueryShape {
  id: string;
  title: string;
  sql: (family: string) => string;
  /** Whether the answer's row order is defined by the query (else both sides are sorted before comparing). */
  ordered: boolean;
  ignore: readonly string[];
}

const QUERIES: readonly QueryShape[] = [
  {
    id: '10a',
    title: 'GROUP BY host: COUNT, SUM, AVG, MAX, ORDER BY host',
    sql: (f) => `SELECT host, COUNT(*), SUM(bytes), AVG(latency), MAX(latency) FROM ${f} GROUP BY host ORDER BY host`,
    ordered: true,
    ignore: [],
  },
  {
    id: '10b',
    title: 'GROUP BY status: COUNT(DISTINCT host)',
    sql: (f) => `SELECT status, COUNT(DISTINCT host) FROM ${f} GROUP BY status`,
    ordered: false,
    ignore: [],
  },
  {
    id: '10c',
    title: 'SELECT * WHERE status = 3 ORDER BY latency DESC LIMIT 10',
    sql: (f) => `SELECT * FROM ${f} WHERE status = 3 ORDER BY latency DESC LIMIT 10`,
    ordered: true,
    // Ids differ by design: part i counts from i * 2^43.
    ignore: ['id'],
  },
  {
    id: '10d',
    title: `COUNT(*) WHERE bytes > ${BYTES_CUT}`,
    sql: (f) => `SELECT COUNT(*) FROM ${f} WHERE bytes > ${BYTES_CUT}`,
    ordered: true,
    ignore: [],
  },
];

const fmt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends `bodies[first .. first + count)` (indexes modulo the list) to the
 * gateway from INGEST_CONNECTIONS closed loops, each request exactly once,
 * so both families receive the same rows whatever the interleaving.
 */
async function ingestRequests(ctx: BenchContext, bodies: readonly Buffer[], first: number, count: number): Promise<LoadResult> {
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  const latencies: number[] = [];
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = first + next++;
      const t0 = performance.now();
      try {
        await gatewayCall(ctx, 'PUT', '/api/log', bodies[i % bodies.length] as Buffer);
        latencies.push(performance.now() - t0);
      } catch (error) {
        errors++;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: INGEST_CONNECTIONS }, () => worker()));
  return {
    ops: latencies.length,
    errors,
    seconds: (performance.now() - started) / 1000,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    firstError,
  };
}

function ingestSide(runs: LoadResult[]): SideSummary {
  const rates = runs.map((r) => (r.seconds > 0 ? (r.ops * BATCH) / r.seconds : 0));
  const mid = (values: number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    const m = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? (sorted[m] as number) : ((sorted[m - 1] as number) + (sorted[m] as number)) / 2;
  };
  return {
    value: mid(rates),
    p50: mid(runs.map((r) => r.p50)),
    p99: mid(runs.map((r) => r.p99)),
    errors: runs.reduce((s, r) => s + r.errors, 0),
    firstError: runs.find((r) => r.firstError !== undefined)?.firstError,
    runs,
  };
}

/** POST /api/query once; the rows, whether the gateway cut them, and the milliseconds it took. */
async function queryOnce(ctx: BenchContext, sql: string): Promise<{ rows: Array<Record<string, unknown>>; truncated: boolean; ms: number }> {
  const t0 = performance.now();
  const answer = await gatewayCall(ctx, 'POST', '/api/query', restQueryBody(sql));
  return { rows: (answer['results'] ?? []) as Array<Record<string, unknown>>, truncated: answer['truncated'] === true, ms: performance.now() - t0 };
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const x = typeof a === 'number' || typeof a === 'string' ? Number(a) : Number.NaN;
  const y = typeof b === 'number' || typeof b === 'string' ? Number(b) : Number.NaN;
  if (Number.isFinite(x) && Number.isFinite(y) && (typeof a === 'number' || typeof b === 'number' || /^-?[\d.e+-]+$/i.test(String(a)))) {
    return x === y || Math.abs(x - y) <= TOLERANCE * Math.max(Math.abs(x), Math.abs(y));
  }
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Undefined when both answers hold the same rows (row for row, doubles within TOLERANCE), else the first difference. */
function difference(shape: QueryShape, spread: Array<Record<string, unknown>>, single: Array<Record<string, unknown>>): string | undefined {
  const strip = (rows: Array<Record<string, unknown>>): Array<Record<string, unknown>> => {
    const kept = rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !shape.ignore.includes(k))));
    return shape.ordered ? kept : [...kept].sort((p, q) => JSON.stringify(p).localeCompare(JSON.stringify(q)));
  };
  const a = strip(spread);
  const b = strip(single);
  if (a.length !== b.length) return `${a.length} rows from the spread family, ${b.length} from the single one`;
  for (let i = 0; i < a.length; i++) {
    const ra = a[i] as Record<string, unknown>;
    const rb = b[i] as Record<string, unknown>;
    const keys = Object.keys(ra);
    if (keys.join(',') !== Object.keys(rb).join(',')) return `row ${i}: columns ${keys.join(',')} against ${Object.keys(rb).join(',')}`;
    for (const k of keys) {
      if (!sameValue(ra[k], rb[k])) return `row ${i}, ${k}: ${JSON.stringify(ra[k])} (spread) against ${JSON.stringify(rb[k])} (single)`;
    }
  }
  return undefined;
}

/** Scenario 10: rows 10 (ingest), 10a-10d (the query shapes), on a gateway process of its own. */
export async function spreadFamily(outer: BenchContext): Promise<ScenarioResult[]> {
  const events = outer.options.quick ? 300_000 : 3_000_000;
  const userTimeout = outer.options.gatewayArgs.some((a) => /^--?query_timeout_ms=/.test(a));
  const extraArgs = [
    `--federation_max_rows=${Math.max(1_000_000, 2 * events)}`,
    ...(userTimeout ? [] : [`--query_timeout_ms=${QUERY_TIMEOUT_MS}`]),
    ...outer.options.gatewayArgs,
  ];
  const logFile = join(tmpdir(), `databalancer-bench-spread-${outer.stamp}.log`);
  outer.log(`scenario 10: own gateway (${extraArgs.join(' ')}); log ${logFile}`);
  const gateway = await startGateway({
    root: outer.root,
    build: outer.gateway.build,
    shards: outer.shards.map((s) => shardUrl(s, outer.gatewayDb)).join(','),
    extraArgs,
    logFile,
  });
  const ctx: BenchContext = {
    ...outer,
    gateway,
    sampler: new RssSampler(gateway),
    cpuSeconds: () => ({ ...outer.cpuSeconds(), gateway: processTreeCpuSeconds(gateway.pid) }),
  };
  try {
    return await measureSpread(ctx, events, extraArgs);
  } finally {
    await gateway.stop();
  }
}

async function measureSpread(ctx: BenchContext, events: number, gatewayArgs: readonly string[]): Promise<ScenarioResult[]> {
  const spread = `s10_spread_${ctx.stamp}`;
  const single = `s10_single_${ctx.stamp}`;
  const shardIds = ctx.shards.map((s) => s.id);

  // 1. Both families with one identical first event; the spread one widened to every shard.
  const seed = makeSpreadEvents(1, 10);
  const singleAnswer = await gatewayCall(ctx, 'PUT', '/api/log', restIngestBody(single, SPREAD_FIELDS, seed));
  await gatewayCall(ctx, 'PUT', '/api/log', restIngestBody(spread, SPREAD_FIELDS, seed));
  const placement = await gatewayCall(ctx, 'PUT', `/api/families/${encodeURIComponent(spread)}/placement`, JSON.stringify({ shards: shardIds }));
  ctx.log(`scenario 10: ${spread} spread over ${JSON.stringify(placement['shards'])}, ${single} on ${String(singleAnswer['shard'])}; waiting ${PART_WAIT_MS} ms for the new parts`);
  await sleep(PART_WAIT_MS);

  // 2. The same requests into both, in alternating rounds (drift hits both alike).
  const bodies = (family: string): Buffer[] =>
    Array.from({ length: DISTINCT_BATCHES }, (_, i) => restIngestBody(family, SPREAD_FIELDS, makeSpreadEvents(BATCH, 1000 + i)));
  const spreadBodies = bodies(spread);
  const singleBodies = bodies(single);
  const requests = Math.ceil(events / BATCH);
  const rounds = Math.max(1, ctx.options.runs);
  const spreadRuns: LoadResult[] = [];
  const singleRuns: LoadResult[] = [];
  const shardsHit = new Set<string>();
  for (let r = 0; r < rounds; r++) {
    const first = Math.floor((r * requests) / rounds);
    const count = Math.floor(((r + 1) * requests) / rounds) - first;
    ctx.log(`scenario 10: ingest round ${r + 1}/${rounds}: ${fmt(count * BATCH)} events into each family`);
    singleRuns.push(await ingestRequests(ctx, singleBodies, first, count));
    spreadRuns.push(await ingestRequests(ctx, spreadBodies, first, count));
  }
  // The spread family's parts as describe lists them.
  const describe = await fetch(`${ctx.gateway.url}/api/describe`).then((r) => r.json() as Promise<{ tables?: Array<Record<string, unknown>> }>);
  const table = describe.tables?.find((t) => t['name'] === spread);
  for (const s of (table?.['shards'] as string[] | undefined) ?? []) shardsHit.add(s);
  const rowCounts = await Promise.all(
    [spread, single].map(async (f) => Number(Object.values((await queryOnce(ctx, `SELECT COUNT(*) FROM ${quoteId(f)}`)).rows[0] ?? {})[0])),
  );
  const spreadIngest = ingestSide(spreadRuns);
  const singleIngest = ingestSide(singleRuns);
  const results: ScenarioResult[] = [];
  results.push({
    id: '10',
    title: `spread family: ingest of ${fmt(events)} events, ${BATCH}-event PUT /api/log, ${INGEST_CONNECTIONS} clients, into a family spread over ${shardIds.length} shards`,
    unit: 'rows/s',
    gateway: spreadIngest,
    baseline: singleIngest,
    baselineLabel: 'the same requests into a family on one shard, rounds alternated',
    ratio: singleIngest.value > 0 ? spreadIngest.value / singleIngest.value : undefined,
    target: `~${shardIds.length} shards' worth (ratio ~${shardIds.length}x where the shards are not CPU-bound)`,
    notes: [
      `gateway = rows/s into ${spread} (parts on ${[...shardsHit].join(', ') || '?'}), baseline = into ${single} on ${String(singleAnswer['shard'])}; ${rounds} round(s) alternated, medians`,
      `run on a gateway process of its own (same shards and catalog): ${gatewayArgs.join(' ')}`,
      `rows after loading (COUNT(*) through the gateway): spread ${fmt(rowCounts[0] ?? Number.NaN)}, single ${fmt(rowCounts[1] ?? Number.NaN)}`,
      ...(spreadIngest.errors + singleIngest.errors > 0
        ? [`**ingest errors**: spread ${spreadIngest.errors}, single ${singleIngest.errors} (first: ${spreadIngest.firstError ?? singleIngest.firstError ?? '?'})`]
        : []),
    ],
    extra: { events, spread, single, placement, rowCounts },
  });

  // 3. Each query shape: answers compared, then alternated load runs against both.
  for (const shape of QUERIES) {
    const spreadSql = shape.sql(quoteId(spread));
    const singleSql = shape.sql(quoteId(single));
    ctx.log(`scenario ${shape.id}: ${shape.title}`);
    const notes: string[] = [];
    let probeMs = 1;
    try {
      const [a, b] = [await queryOnce(ctx, spreadSql), await queryOnce(ctx, singleSql)];
      probeMs = Math.max(a.ms, b.ms, 1);
      const diff = difference(shape, a.rows, b.rows);
      if (diff !== undefined || a.truncated || b.truncated) {
        const warning = `WARNING: scenario ${shape.id}: the spread and single answers differ: ${diff ?? 'an answer was truncated'}`;
        ctx.log(warning);
        notes.push(`**${warning}**`);
      } else {
        notes.push(`answers equal: ${a.rows.length} rows, row for row${shape.ordered ? '' : ' (sorted: no ORDER BY)'}, doubles within ${TOLERANCE} relative${shape.ignore.length > 0 ? `, ${shape.ignore.join(', ')} left out (ids differ by design)` : ''}`);
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      results.push({ id: shape.id, title: shape.title, unit: 'ms', baselineLabel: '-', target: '-', notes: [], skipped: `failed: ${message.slice(0, 200)}` });
      continue;
    }
    // Enough queries to fill a run (at least 2; 1 for the warm-up), by the slower side's first answer.
    const amount = (seconds: number): number =>
      Math.min(500, Math.max(seconds < ctx.options.runSeconds ? 1 : 2, Math.round((seconds * 1000) / probeMs)));
    const side = (sql: string) => {
      const jobs: HttpJob[] = [{ method: 'POST', path: '/api/query', body: restQueryBody(sql) }];
      return (seconds: number) => runHttpLoad(ctx.gateway.url, jobs, { connections: QUERY_CONNECTIONS, seconds: 3600, amount: amount(seconds), timeoutSeconds: 300 });
    };
    const measured = await compare(ctx, { unit: 'ms', rowsPerOp: 1, gateway: side(spreadSql), baseline: side(singleSql) });
    const rate = (s: SideSummary | undefined): string => {
      const ops = s?.runs.reduce((n, r) => n + r.ops, 0) ?? 0;
      const secs = s?.runs.reduce((n, r) => n + r.seconds, 0) ?? 0;
      return secs > 0 ? (ops / secs).toFixed(2) : '-';
    };
    notes.push(
      `requests/s (${QUERY_CONNECTIONS} client): spread ${rate(measured.gateway)}, single ${rate(measured.baseline)}; ${amount(ctx.options.runSeconds)} queries per run`,
      `SQL: ${shape.sql('f')}`,
    );
    results.push(
      resultOf(
        {
          id: shape.id,
          title: `spread family, ${fmt(events)} events: ${shape.title}`,
          unit: 'ms',
          baselineLabel: 'the same SQL through the gateway on a family on one shard holding the same rows',
          target: 'spread p50 / one-server p50 (reported)',
        },
        measured,
        () => undefined,
        notes,
      ),
    );
  }
  return results;
}
