/**
 * Scenario 9: moving a family between shards online (issue 16). One family
 * of dog_registry events is loaded, scenario 1's ingest load (1000-event
 * PUT /api/log bodies, 4 autocannon clients) runs into it for a fixed time
 * (the baseline), then a move to another shard starts and the same load runs
 * until the move is done. Reported: the copy's rows/s, ingest during the move
 * over ingest before, the latency during the move (its maximum shows the
 * pause at the switch) and every non-200 answer (there must be none).
 *
 * Each variant runs on a gateway process of its own, beside the harness's
 * (both are stateless front-ends of the same shards and catalog), so that it
 * can get its own --move_rows_per_second and log at info level: the
 * gateway's `family moved` line carries pauseMs, the length of the switch.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import type mysql from 'mysql2/promise';
import { gatewayCall, withDirect, type BenchContext, type ScenarioResult, type ShardTarget, type SideSummary } from '../lib/context.js';
import { DOG_FIELDS, makeBatches, makeEvents, quoteId, restIngestBody } from '../lib/data.js';
import { startGateway, type Gateway } from '../lib/gateway.js';
import type { HttpJob, LoadResult } from '../lib/load.js';
import { percentile } from '../lib/stats.js';
import { placeFamilies } from './ingest.js';

/** Events per loading request (as scenario 5 loads its family). */
const LOAD_BATCH = 5000;
/** Clients and events per request of the ingest load (scenario 1's). */
const CONNECTIONS = 4;
const BATCH = 1000;
/** Distinct request bodies the clients cycle through. */
const DISTINCT_BATCHES = 8;
/** A move still running after this long (seconds; quick, full) is cancelled and reported as not finished. */
const MOVE_LIMIT_SECONDS = { quick: 90, full: 240 } as const;
/**
 * Share of the flat-out request rate that the paced variant offers: low
 * enough that the copy (about 10,000 rows/s under load on the 2-core
 * machine of docs/performance.md) outpaces the ingest and the move ends.
 */
const PACED_SHARE = 0.1;
/** The gateway's default copy rate (src/config/config.ts, move_rows_per_second). */
const DEFAULT_RATE = 50_000;

/** GET /api/families/{family}/move, the fields the scenario reads. */
interface MoveStatus {
  state: string;
  from?: string;
  to?: string;
  copiedRows: number;
  totalRows: number;
  startedAt: string;
  finishedAt: string | null;
  error?: string | null;
}

/** What one closed-loop ingest run measured, with every latency kept (for the maximum). */
interface IngestRun extends LoadResult {
  max: number;
  non200: number;
  /** Connection errors and timeouts (autocannon's), not counted in non200. */
  failures: number;
}

/** A running autocannon ingest load that can be stopped at any moment. */
interface RunningLoad {
  stop(): Promise<IngestRun>;
}

/**
 * Starts the harness's ingest load (autocannon, each client cycling the
 * bodies from its own offset, as runHttpLoad does) with no end of its own;
 * `stop()` ends it and reports. Each latency is kept, so the maximum is exact.
 */
function startIngestLoad(url: string, jobs: readonly HttpJob[], overallRate?: number): RunningLoad {
  let clientIndex = 0;
  let firstError: string | undefined;
  let non200 = 0;
  const requests: autocannon.Request[] = jobs.map((job) => ({
    method: job.method,
    path: job.path,
    headers: { 'content-type': 'application/json' },
    body: job.body,
    onResponse: (status: number, body: string) => {
      if (status !== 200) {
        non200++;
        firstError ??= `HTTP ${status}: ${body.slice(0, 400)}`;
      }
    },
  }));
  const latencies: number[] = [];
  const started = performance.now();
  let finished: Promise<IngestRun> | undefined;
  const instance = autocannon(
    {
      url,
      connections: CONNECTIONS,
      duration: MOVE_LIMIT_SECONDS.full + 600,
      timeout: 30,
      requests,
      ...(overallRate === undefined ? {} : { overallRate }),
      setupClient: (client) => {
        const offset = (clientIndex++ * Math.max(1, Math.floor(requests.length / CONNECTIONS))) % requests.length;
        if (offset > 0) client.setRequests([...requests.slice(offset), ...requests.slice(0, offset)]);
      },
    },
    () => undefined,
  );
  instance.on('response', (_client, _status, _bytes, responseTime) => {
    latencies.push(responseTime);
  });
  const done = new Promise<IngestRun>((resolve) => {
    instance.once('done', (result: autocannon.Result) => {
      const seconds = (performance.now() - started) / 1000;
      const failures = result.errors + result.timeouts;
      resolve({
        ops: Math.max(0, latencies.length - non200),
        errors: non200 + failures,
        non200,
        failures,
        seconds,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        max: latencies.length > 0 ? Math.max(...latencies) : Number.NaN,
        firstError: firstError ?? (failures > 0 ? `${result.errors} connection errors, ${result.timeouts} timeouts` : undefined),
      });
    });
  });
  return {
    stop: () => {
      finished ??= (async () => {
        instance.stop();
        return done;
      })();
      return finished;
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function moveStatus(gateway: Gateway, family: string): Promise<MoveStatus> {
  const response = await fetch(`${gateway.url}/api/families/${encodeURIComponent(family)}/move`);
  const text = await response.text();
  if (!response.ok) throw new Error(`GET move of ${family} answered ${response.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as MoveStatus;
}

/** pauseMs of the gateway's `family moved` log line for `family`, if it logged one. */
function pauseFromLog(logFile: string, family: string): number | undefined {
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    if (!line.includes('family moved')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; family?: string; pauseMs?: number };
      if (entry.msg === 'family moved' && entry.family === family && typeof entry.pauseMs === 'number') return entry.pauseMs;
    } catch {
      // not a JSON line
    }
  }
  return undefined;
}

function shardUrl(shard: ShardTarget, database: string): string {
  const auth = `${encodeURIComponent(shard.user)}${shard.password === '' ? '' : `:${encodeURIComponent(shard.password)}`}`;
  return `${shard.id}=mysql://${auth}@${shard.host}:${shard.port}/${database}`;
}

function side(run: IngestRun): SideSummary {
  return {
    value: run.seconds > 0 ? (run.ops * BATCH) / run.seconds : 0,
    p50: run.p50,
    p99: run.p99,
    errors: run.errors,
    firstError: run.firstError,
    runs: [run],
  };
}

/**
 * One variant: a gateway with `rate` as --move_rows_per_second (undefined:
 * its default); `paced`: the ingest load offers PACED_SHARE of the unpaced
 * baseline's request rate (autocannon overallRate) instead of running closed-loop flat out.
 */
interface Variant {
  id: string;
  rate: number | undefined;
  paced: boolean;
}

const fmt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');

/**
 * Runs one variant. `flatOutRate` (requests/s of the flat-out load, from an
 * earlier variant) spares the paced variant its own flat-out measurement.
 */
async function moveVariant(ctx: BenchContext, variant: Variant, flatOutRate: number | undefined): Promise<ScenarioResult> {
  const rows = ctx.options.quick ? 100_000 : 500_000;
  const family = `s9_move${variant.rate === 0 ? '_uncapped' : ''}${variant.paced ? '_paced' : ''}_${ctx.stamp}`;
  const limitSeconds = ctx.options.quick ? MOVE_LIMIT_SECONDS.quick : MOVE_LIMIT_SECONDS.full;
  const userRate = ctx.options.gatewayArgs.map((a) => /^--?move_rows_per_second=(\d+)$/.exec(a)?.[1]).find((v) => v !== undefined);
  const rate = variant.rate ?? (userRate !== undefined ? Number(userRate) : DEFAULT_RATE);
  const rateText = rate === 0 ? 'uncapped (--move_rows_per_second=0)' : `capped at ${fmt(rate)} rows/s (--move_rows_per_second${variant.rate === undefined && userRate === undefined ? ' default' : `=${rate}`})`;
  const logFile = join(tmpdir(), `databalancer-bench-move-${variant.id}-${ctx.stamp}.log`);
  const extraArgs = [...ctx.options.gatewayArgs, '--log_level=info', ...(variant.rate === undefined ? [] : [`--move_rows_per_second=${variant.rate}`])];
  ctx.log(`scenario ${variant.id}: own gateway (${extraArgs.join(' ')}); log ${logFile}`);
  const gateway = await startGateway({
    root: ctx.root,
    build: ctx.gateway.build,
    shards: ctx.shards.map((s) => shardUrl(s, ctx.gatewayDb)).join(','),
    extraArgs,
    logFile,
  });
  const local: BenchContext = { ...ctx, gateway };
  const loads: RunningLoad[] = [];
  try {
    // 1. Load the family: 5000-event PUTs, two at a time, as scenario 5 loads its own.
    const placement = await placeFamilies(local, [family], DOG_FIELDS);
    const from = placement.get(family) as ShardTarget;
    const to = ctx.shards.find((s) => s.id !== from.id);
    if (to === undefined) throw new Error('a move needs at least two shards');
    ctx.log(`scenario ${variant.id}: loading ${fmt(rows)} events into ${family} on ${from.id}`);
    const requests = Math.ceil(rows / LOAD_BATCH);
    let next = 0;
    const loader = async (): Promise<void> => {
      while (next < requests) {
        const i = next++;
        await gatewayCall(local, 'PUT', '/api/log', restIngestBody(family, DOG_FIELDS, makeEvents(DOG_FIELDS, LOAD_BATCH, 900 + i)));
      }
    };
    await Promise.all([loader(), loader()]);
    const batches = makeBatches(DOG_FIELDS, DISTINCT_BATCHES, BATCH, 9);
    const jobs: HttpJob[] = batches.map((batch) => ({ method: 'PUT', path: '/api/log', body: restIngestBody(family, DOG_FIELDS, batch) }));

    // 2. Baseline: the load for a fixed time before the move (after a warm-up).
    const warm = startIngestLoad(gateway.url, jobs);
    loads.push(warm);
    await sleep(ctx.options.warmupSeconds * 1000);
    const warmed = await warm.stop();
    const baselineSeconds = Math.max(5, ctx.options.runSeconds * (ctx.options.quick ? 2.5 : 1.5));
    let unpaced: IngestRun | undefined;
    let before: IngestRun | undefined;
    let beforeLoad: RunningLoad;
    if (!variant.paced || flatOutRate === undefined) {
      ctx.log(`scenario ${variant.id}: ingest before the move, ${baselineSeconds} s`);
      beforeLoad = startIngestLoad(gateway.url, jobs);
      loads.push(beforeLoad);
      await sleep(baselineSeconds * 1000);
      before = await beforeLoad.stop();
      unpaced = before;
    }
    let overallRate: number | undefined;
    if (variant.paced) {
      const rateOfFlatOut = flatOutRate ?? (unpaced === undefined ? 1 : unpaced.ops / unpaced.seconds);
      overallRate = Math.max(1, Math.round(rateOfFlatOut * PACED_SHARE));
      ctx.log(`scenario ${variant.id}: ingest before the move paced at ${overallRate} requests/s, ${baselineSeconds} s`);
      beforeLoad = startIngestLoad(gateway.url, jobs, overallRate);
      loads.push(beforeLoad);
      await sleep(baselineSeconds * 1000);
      before = await beforeLoad.stop();
    }
    if (before === undefined) throw new Error('no baseline run');
    const unpacedOps = variant.paced ? (unpaced?.ops ?? 0) : 0;
    const unpacedErrors = variant.paced ? (unpaced?.errors ?? 0) : 0;

    // 3. The move, with the same load running until it is done.
    ctx.log(`scenario ${variant.id}: moving ${family} ${from.id} -> ${to.id}, ${rateText}, under the same load`);
    const duringLoad = startIngestLoad(gateway.url, jobs, overallRate);
    loads.push(duringLoad);
    const t0 = performance.now();
    await gatewayCall(local, 'POST', `/api/families/${encodeURIComponent(family)}/move`, JSON.stringify({ to: to.id }));
    let status = await moveStatus(gateway, family);
    const states: string[] = [status.state];
    while (!['done', 'failed', 'cancelled'].includes(status.state)) {
      if (performance.now() - t0 > limitSeconds * 1000) {
        ctx.log(`scenario ${variant.id}: the move is not done after ${limitSeconds} s (${status.state}, ${fmt(status.copiedRows)} rows copied); cancelling it`);
        await fetch(`${gateway.url}/api/families/${encodeURIComponent(family)}/move`, { method: 'DELETE' }).catch(() => undefined);
        break;
      }
      await sleep(100);
      status = await moveStatus(gateway, family);
      if (states[states.length - 1] !== status.state) states.push(status.state);
    }
    const observedSeconds = (performance.now() - t0) / 1000;
    const during = await duringLoad.stop();
    status = await moveStatus(gateway, family);
    const done = status.state === 'done';

    const wallSeconds =
      status.finishedAt !== null ? (Date.parse(status.finishedAt) - Date.parse(status.startedAt)) / 1000 : Number.NaN;
    const moveRate = wallSeconds > 0 ? status.copiedRows / wallSeconds : Number.NaN;
    const pauseMs = pauseFromLog(logFile, family);

    // Every acknowledged event exactly once on the target, nothing left on the source.
    const acknowledged = 1 + requests * LOAD_BATCH + (warmed.ops + unpacedOps + before.ops + during.ops) * BATCH;
    const home = done ? to : from;
    const onTarget = await withDirect(home, ctx.gatewayDb, async (c) => {
      const [r] = await c.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${quoteId(family)}`);
      return Number(r[0]?.['n']);
    }).catch(() => Number.NaN);
    const onSource = await withDirect(done ? from : to, ctx.gatewayDb, async (c) => {
      const [r] = await c.query<mysql.RowDataPacket[]>(
        "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND (TABLE_NAME = ? OR TABLE_NAME LIKE 'databalancer\\_move\\_%')",
        [family],
      );
      return Number(r[0]?.['n']);
    }).catch(() => Number.NaN);
    // A request in flight when a load stopped may have committed unseen: up to one batch per client per stop.
    const unseen = onTarget - acknowledged;
    const exact = warmed.errors + unpacedErrors + before.errors + during.errors === 0 && unseen >= 0 && unseen <= 4 * CONNECTIONS * BATCH && unseen % BATCH === 0;

    const gatewaySide = side(during);
    const baselineSide = side(before);
    const ratio = baselineSide.value > 0 ? gatewaySide.value / baselineSide.value : undefined;
    const pauseText = pauseMs === undefined ? 'pause ?' : `pause ${fmt(pauseMs)} ms`;
    const notes = [
      `move ${from.id} -> ${to.id}, ${rateText}, --move_batch_rows default; state ${status.state} (seen: ${states.join(' -> ')})${status.error ? `, error: ${status.error}` : ''}`,
      `move rows/s = copiedRows / (finishedAt - startedAt) = ${fmt(status.copiedRows)} / ${wallSeconds.toFixed(2)} s = ${fmt(moveRate)}; the client saw ${observedSeconds.toFixed(2)} s from POST to done`,
      `family before the move: ${fmt(1 + requests * LOAD_BATCH + (warmed.ops + unpacedOps + before.ops) * BATCH)} rows`,
      ...(variant.paced
        ? [`ingest paced at ${overallRate ?? '?'} requests/s (${PACED_SHARE * 100}% of the flat-out ${fmt((flatOutRate ?? (unpaced === undefined ? 0 : unpaced.ops / unpaced.seconds)) * BATCH)} rows/s${flatOutRate === undefined ? ' measured first' : ' of row 9'}), before and during the move`]
        : ['ingest flat out (closed loop, as scenario 1), before and during the move']),
      ...(done
        ? []
        : [`**not done within ${limitSeconds} s** and cancelled: the copy (${fmt(moveRate)} rows/s) did not outpace the ingest into the family, so the catch-up rounds did not shrink`]),
      `ingest during the move: ${fmt(gatewaySide.value)} rows/s over ${during.seconds.toFixed(1)} s, p50 / p99 / max ${during.p50.toFixed(0)} / ${during.p99.toFixed(0)} / ${fmt(during.max)} ms; before: ${fmt(baselineSide.value)} rows/s over ${before.seconds.toFixed(1)} s, max ${fmt(before.max)} ms`,
      `${pauseText} (the gateway's pauseMs of its 'family moved' log line: the switch)`,
      `non-200 answers: before ${before.non200}, during ${during.non200}; connection errors/timeouts: ${before.failures + during.failures}${during.firstError !== undefined ? ` (first: ${during.firstError})` : ''}`,
      `on the shards after: ${fmt(onTarget)} rows on ${home.id} for ${fmt(acknowledged)} acknowledged events (${exact ? `each present, ${fmt(unseen / BATCH)} requests in flight when a load stopped` : '**missing or extra rows**'}); ${done ? `family table on ${from.id}` : `copy left on ${to.id}`}: ${onSource === 0 ? 'none' : String(onSource)}`,
      'gateway = ingest rows/s during the move, baseline = the same load before it; ratio = during / before',
      'run on a gateway process of its own (same shards and catalog) with --log_level=info',
    ];
    const met = done && during.non200 === 0 && during.failures === 0 && exact && pauseMs !== undefined && pauseMs <= 1000;
    return {
      id: variant.id,
      title: `move ${fmt(rows)} rows online, ${rate === 0 ? 'uncapped' : `cap ${fmt(rate)} rows/s`}, ingest ${variant.paced ? `paced at ${PACED_SHARE * 100}%` : 'flat out'}: move ${fmt(moveRate)} rows/s${done ? ` in ${wallSeconds.toFixed(1)} s` : `, NOT DONE in ${limitSeconds} s (${status.state})`}, max ingest latency ${fmt(during.max)} ms, ${pauseText}`,
      unit: 'rows/s',
      gateway: gatewaySide,
      baseline: baselineSide,
      baselineLabel: 'the same ingest load (4 clients, 1000-event PUTs) into the same family before the move',
      ratio,
      target: 'done; 0 non-200; pause <= 1 s',
      met,
      notes,
      extra: { family, from: from.id, to: to.id, rate, status, states, wallSeconds, moveRate, observedSeconds, pauseMs, before, during, acknowledged, onTarget, onSource },
    };
  } finally {
    await Promise.all(loads.map((l) => l.stop().catch(() => undefined)));
    await gateway.stop();
  }
}

/** Scenario 9: rows 9 (default copy rate cap, ingest flat out), 9p (the same, ingest paced at PACED_SHARE of its rate), 9u (uncapped, flat out). */
export async function familyMove(ctx: BenchContext): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  const variants: Variant[] = [
    { id: '9', rate: undefined, paced: false },
    { id: '9p', rate: undefined, paced: true },
    { id: '9u', rate: 0, paced: false },
  ];
  let flatOutRate: number | undefined;
  for (const variant of variants) {
    try {
      const result = await moveVariant(ctx, variant, flatOutRate);
      const before = result.extra?.['before'] as IngestRun | undefined;
      if (!variant.paced && flatOutRate === undefined && before !== undefined && before.seconds > 0) flatOutRate = before.ops / before.seconds;
      results.push(result);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      ctx.log(`scenario ${variant.id} failed: ${message}`);
      results.push({ id: variant.id, title: 'move a family online', unit: 'rows/s', baselineLabel: '-', target: '-', notes: [], skipped: `failed: ${message.slice(0, 200)}` });
    }
  }
  return results;
}
