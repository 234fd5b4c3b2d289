/**
 * What every scenario gets (the running gateway, the shards, database names,
 * options) and the measurement protocol they share: warm-up, then runs that
 * alternate gateway and baseline, then medians.
 */
import mysql from 'mysql2/promise';
import type { BenchOptions } from './args.js';
import type { Gateway, RssSampler } from './gateway.js';
import type { LoadResult } from './load.js';
import { openDirect, type DirectTarget } from './load.js';
import { median } from './stats.js';
import { hostTicks, stealPercent } from './cpu.js';
import { quoteId } from './data.js';

/** One shard as the benchmark reaches it directly. */
export interface ShardTarget {
  id: string;
  host: string;
  port: number;
  user: string;
  password: string;
}

/** Shared state of one benchmark run. */
export interface BenchContext {
  options: BenchOptions;
  /** The repository root (where the baseline servers' sources are). */
  root: string;
  gateway: Gateway;
  sampler: RssSampler;
  shards: readonly ShardTarget[];
  /** Database the gateway uses on every shard. */
  gatewayDb: string;
  /** Database of the direct baselines on every shard (same server, separate tables). */
  baselineDb: string;
  /** Database of the hand-written loader's plain tables on every shard (the "loader" baseline users compare with). */
  loaderDb: string;
  /** Database on the first shard holding all of scenario 6's events (the single-server baseline). */
  singleDb: string;
  /** Unique suffix for family names of this run. */
  stamp: string;
  /** Progress line on stderr. */
  log(message: string): void;
  /** Results of scenarios already run, by id (scenario 8 compares to scenario 1). */
  results: Map<string, ScenarioResult>;
  /** Sum of the servers' `Questions` status counters (statements received), for statements per request. */
  countStatements(): Promise<number>;
  /** CPU seconds used so far by the gateway (with its workers), the shard servers (when the harness started them) and this process. */
  cpuSeconds(): CpuReading;
}

/** CPU seconds used so far, per party; undefined where /proc or the pids are not available. */
export interface CpuReading {
  gateway?: number | undefined;
  servers?: number | undefined;
  client: number;
}

/** CPU milliseconds per successful operation, per party (see CpuReading). */
export interface CpuPerOp {
  gateway?: number | undefined;
  servers?: number | undefined;
  client: number;
}

/** Median figures of one side over its measured runs. */
export interface SideSummary {
  /** Median rows/s, req/s or ms per query (see ScenarioResult.unit). */
  value: number;
  p50: number;
  p99: number;
  errors: number;
  firstError?: string | undefined;
  /** Statements the servers received per successful operation (all shards, catalog included). */
  statementsPerOp?: number | undefined;
  /** CPU milliseconds each party spent per successful operation during the measured runs. */
  cpuMsPerOp?: CpuPerOp | undefined;
  runs: LoadResult[];
}

/** One row of the report. */
export interface ScenarioResult {
  id: string;
  title: string;
  /** What `value` counts. `ms` means lower is better. */
  unit: 'rows/s' | 'req/s' | 'ms';
  gateway?: SideSummary | undefined;
  baseline?: SideSummary | undefined;
  /** Peak gateway VmRSS during this scenario's gateway runs, bytes. */
  gatewayPeakRss?: number | undefined;
  /** What the baseline is. */
  baselineLabel: string;
  /** gateway/baseline for rates, gateway/baseline time for `ms`. */
  ratio?: number | undefined;
  target: string;
  met?: boolean | undefined;
  notes: string[];
  skipped?: string | undefined;
  /** Extra raw figures for the JSON file. */
  extra?: Record<string, unknown> | undefined;
  /**
   * The baselines users compare the gateway with (a hand-written loader into
   * plain tables, a minimal HTTP passthrough, a bare Apollo Server), measured
   * in the same alternated rounds as `gateway` and `baseline`.
   */
  userBaselines?: UserBaseline[] | undefined;
}

/** One "what users compare with" baseline of a scenario, and how the gateway fares against it. */
export interface UserBaseline {
  /** Short name shown in the table: loader, passthrough, bare Apollo. */
  name: string;
  /** What it is, for the notes. */
  label: string;
  side: SideSummary;
  /** The figure of the target (see `ratioMeaning`). */
  ratio?: number | undefined;
  /** What `ratio` is, e.g. "gateway rows/s / loader rows/s". */
  ratioMeaning: string;
  target: string;
  met?: boolean | undefined;
}

/** One side of a comparison: runs a load for `seconds` and reports it. */
export type Side = (seconds: number) => Promise<LoadResult>;

/** How a comparison turns a LoadResult into its headline figure. */
export interface CompareSpec {
  gateway?: Side | undefined;
  baseline?: Side | undefined;
  /** Further sides, run after the baseline in every round (the baselines users compare with). */
  others?: Record<string, Side> | undefined;
  /** Rows per successful operation (1000 for a 1000-event request); 1 for req/s. */
  rowsPerOp: number;
  unit: ScenarioResult['unit'];
}

function headline(result: LoadResult, spec: CompareSpec): number {
  if (spec.unit === 'ms') return result.p50;
  return result.seconds > 0 ? (result.ops * spec.rowsPerOp) / result.seconds : 0;
}

/** What one side accumulates over its measured runs besides the LoadResults. */
interface SideTotals {
  statements: number;
  cpu: CpuReading;
}

function emptyTotals(): SideTotals {
  return { statements: 0, cpu: { gateway: 0, servers: 0, client: 0 } };
}

/** Adds `after - before` of every party to `into`; a party unreadable at either end stays undefined. */
function addCpu(into: CpuReading, before: CpuReading, after: CpuReading): void {
  const delta = (a: number | undefined, b: number | undefined, sum: number | undefined): number | undefined =>
    a === undefined || b === undefined || sum === undefined ? undefined : sum + (b - a);
  into.gateway = delta(before.gateway, after.gateway, into.gateway);
  into.servers = delta(before.servers, after.servers, into.servers);
  into.client += after.client - before.client;
}

function summarize(runs: LoadResult[], spec: CompareSpec, totals: SideTotals): SideSummary {
  const errors = runs.reduce((sum, r) => sum + r.errors, 0);
  const ops = runs.reduce((sum, r) => sum + r.ops, 0);
  const perOp = (seconds: number | undefined): number | undefined => (seconds === undefined || ops === 0 ? undefined : (seconds * 1000) / ops);
  return {
    statementsPerOp: ops > 0 ? totals.statements / ops : undefined,
    cpuMsPerOp:
      ops > 0 ? { gateway: perOp(totals.cpu.gateway), servers: perOp(totals.cpu.servers), client: perOp(totals.cpu.client) ?? 0 } : undefined,
    value: median(runs.map((r) => headline(r, spec))),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    errors,
    firstError: runs.find((r) => r.firstError !== undefined)?.firstError,
    runs,
  };
}

/**
 * Warm-up of each side (not measured), then `options.runs` rounds of
 * gateway-run, baseline-run, so slow drift (table growth, other load on the
 * machine) hits both sides alike. Samples the gateway's RSS during its runs,
 * and counts statements and CPU time around every measured run.
 */
export async function compare(
  ctx: BenchContext,
  spec: CompareSpec,
): Promise<{ gateway?: SideSummary | undefined; baseline?: SideSummary | undefined; others: Record<string, SideSummary>; peakRss: number; stealPercent?: number | undefined }> {
  const { warmupSeconds, runSeconds, runs } = ctx.options;
  const ticksBefore = hostTicks();
  const others = Object.entries(spec.others ?? {});
  if (spec.gateway !== undefined) await spec.gateway(warmupSeconds);
  if (spec.baseline !== undefined) await spec.baseline(warmupSeconds);
  for (const [, side] of others) await side(warmupSeconds);
  const otherRuns = new Map<string, LoadResult[]>(others.map(([name]) => [name, []]));
  const otherTotals = new Map<string, SideTotals>(others.map(([name]) => [name, emptyTotals()]));
  const gatewayRuns: LoadResult[] = [];
  const baselineRuns: LoadResult[] = [];
  const gatewayTotals = emptyTotals();
  const baselineTotals = emptyTotals();
  let peakRss = 0;
  // Reading the counters is itself one statement per server.
  const measured = async (side: Side, totals: SideTotals): Promise<LoadResult> => {
    const statementsBefore = await ctx.countStatements();
    const cpuBefore = ctx.cpuSeconds();
    const result = await side(runSeconds);
    addCpu(totals.cpu, cpuBefore, ctx.cpuSeconds());
    totals.statements += (await ctx.countStatements()) - statementsBefore - ctx.shards.length;
    return result;
  };
  for (let i = 0; i < runs; i++) {
    if (spec.gateway !== undefined) {
      ctx.sampler.start();
      gatewayRuns.push(await measured(spec.gateway, gatewayTotals));
      peakRss = Math.max(peakRss, ctx.sampler.stop());
    }
    if (spec.baseline !== undefined) baselineRuns.push(await measured(spec.baseline, baselineTotals));
    for (const [name, side] of others) otherRuns.get(name)?.push(await measured(side, otherTotals.get(name) as SideTotals));
  }
  return {
    gateway: spec.gateway !== undefined ? summarize(gatewayRuns, spec, gatewayTotals) : undefined,
    baseline: spec.baseline !== undefined ? summarize(baselineRuns, spec, baselineTotals) : undefined,
    others: Object.fromEntries(others.map(([name]) => [name, summarize(otherRuns.get(name) ?? [], spec, otherTotals.get(name) as SideTotals)])),
    peakRss,
    stealPercent: stealPercent(ticksBefore, hostTicks()),
  };
}

/** A shard by id; throws when the gateway answered with an unknown shard id. */
export function shardById(ctx: BenchContext, id: string): ShardTarget {
  const shard = ctx.shards.find((s) => s.id === id);
  if (shard === undefined) throw new Error(`the gateway placed a family on shard "${id}", which the benchmark does not know`);
  return shard;
}

/** Connection settings for `database` on `shard`. */
export function directTarget(shard: ShardTarget, database: string): DirectTarget {
  return { host: shard.host, port: shard.port, user: shard.user, password: shard.password, database };
}

/** Runs `work` on a fresh direct connection to `database` on `shard`, closing it after. */
export async function withDirect<T>(shard: ShardTarget, database: string, work: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const connection = await openDirect(directTarget(shard, database));
  try {
    return await work(connection);
  } finally {
    await connection.end().catch(() => undefined);
  }
}

/**
 * Recreates `table` of the gateway's database in `targetDb` on the same
 * server, from SHOW CREATE TABLE, so the baseline writes into the very same
 * table shape (columns, types, INVISIBLE column, indexes, charset). With
 * `replace` false an existing copy is kept.
 */
export async function copyTableShape(ctx: BenchContext, shard: ShardTarget, table: string, targetDb: string, replace = true): Promise<void> {
  await withDirect(shard, ctx.gatewayDb, async (c) => {
    const [rows] = await c.query<mysql.RowDataPacket[]>(`SHOW CREATE TABLE ${quoteId(table)}`);
    const ddl = String(rows[0]?.['Create Table'] ?? '');
    if (ddl === '') throw new Error(`SHOW CREATE TABLE ${table} on ${shard.id} returned nothing`);
    await c.query(`CREATE DATABASE IF NOT EXISTS ${quoteId(targetDb)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await c.query(`USE ${quoteId(targetDb)}`);
    if (replace) await c.query(`DROP TABLE IF EXISTS ${quoteId(table)}`);
    await c.query(replace ? ddl : ddl.replace(/^CREATE TABLE/, 'CREATE TABLE IF NOT EXISTS'));
  });
}

/** Sends one JSON request to the gateway and returns the parsed answer; throws on a non-2xx status. */
export async function gatewayCall(ctx: BenchContext, method: 'PUT' | 'POST', path: string, body: Buffer | string): Promise<Record<string, unknown>> {
  const response = await fetch(`${ctx.gateway.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Fills a ScenarioResult from a comparison of rates or times. */
export function resultOf(
  base: Pick<ScenarioResult, 'id' | 'title' | 'unit' | 'baselineLabel' | 'target'>,
  measured: { gateway?: SideSummary | undefined; baseline?: SideSummary | undefined; peakRss: number; stealPercent?: number | undefined },
  met: (ratio: number, gateway: SideSummary | undefined, baseline: SideSummary | undefined) => boolean | undefined,
  notes: string[] = [],
): ScenarioResult {
  const { gateway, baseline } = measured;
  const ratio = gateway !== undefined && baseline !== undefined && baseline.value > 0 ? gateway.value / baseline.value : undefined;
  const allNotes = [...notes];
  const perOp = (side: SideSummary | undefined): string => (side?.statementsPerOp === undefined ? '-' : side.statementsPerOp.toFixed(1));
  if (gateway?.statementsPerOp !== undefined || baseline?.statementsPerOp !== undefined) {
    allNotes.push(`statements received by the servers per operation: gateway side ${perOp(gateway)}, baseline side ${perOp(baseline)}`);
  }
  const cpu = cpuNote(gateway?.cpuMsPerOp, baseline?.cpuMsPerOp);
  if (cpu !== undefined) allNotes.push(cpu);
  const steal = stealNote(measured.stealPercent);
  if (steal !== undefined) allNotes.push(steal);
  if (gateway !== undefined && gateway.errors > 0) allNotes.push(`gateway errors: ${gateway.errors} (first: ${gateway.firstError ?? '?'})`);
  if (baseline !== undefined && baseline.errors > 0) allNotes.push(`baseline errors: ${baseline.errors} (first: ${baseline.firstError ?? '?'})`);
  return {
    ...base,
    gateway,
    baseline,
    gatewayPeakRss: measured.peakRss > 0 ? measured.peakRss : undefined,
    ratio,
    met: ratio === undefined ? undefined : met(ratio, gateway, baseline),
    notes: allNotes,
  };
}

/** Above this share of stolen CPU time, a run's ratios say more about the host's other guests than about the gateway. */
export const STEAL_WARNING_PERCENT = 2;

/** "host CPU stolen by other guests during the scenario: 3.1% (above 2%: ...)", or undefined without /proc. */
export function stealNote(percent: number | undefined): string | undefined {
  if (percent === undefined || !Number.isFinite(percent)) return undefined;
  const text = `host CPU stolen by other guests during the scenario: ${percent.toFixed(1)}% of the machine's time`;
  return percent > STEAL_WARNING_PERCENT ? `${text} (above ${STEAL_WARNING_PERCENT}%: the host was busy, so this scenario's ratios are less reliable; run it again on a quiet host)` : text;
}

/**
 * "CPU ms per operation: gateway side: gateway 9.1, servers 12.0, client 0.4;
 * baseline side: servers 11.8, client 0.1", or undefined when nothing was read.
 */
export function cpuNote(gateway: CpuPerOp | undefined, baseline: CpuPerOp | undefined): string | undefined {
  const part = (label: string, value: number | undefined): string | undefined => (value === undefined ? undefined : `${label} ${value.toFixed(2)}`);
  const side = (label: string, cpu: CpuPerOp | undefined, withGateway: boolean): string | undefined => {
    if (cpu === undefined) return undefined;
    const parts = [withGateway ? part('gateway', cpu.gateway) : undefined, part('servers', cpu.servers), part('load client', cpu.client)];
    return `${label}: ${parts.filter((p) => p !== undefined).join(', ')}`;
  };
  const sides = [side('gateway side', gateway, true), side('baseline side', baseline, false)].filter((s) => s !== undefined);
  return sides.length === 0 ? undefined : `CPU ms per operation: ${sides.join('; ')}`;
}
