/**
 * `npm run bench [-- --quick] [-- --shards=...]`: starts three throwaway
 * MariaDB/MySQL shards (or uses the servers given), starts the gateway as a
 * separate process, runs the scenarios of issue 5 against it and against
 * direct mysql2 baselines, prints one markdown table and writes the raw
 * figures to bench/results/<timestamp>.json. Stops everything it started, at
 * the end and on Ctrl-C. See bench/README.md.
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { startCluster, type Cluster } from '../scripts/lib/mariadb-cluster.js';
import { HELP, parseBenchArgs, type BenchOptions, type ServerEndpoint } from './lib/args.js';
import { RssSampler, startGateway, type Gateway } from './lib/gateway.js';
import { stopAllLoads } from './lib/load.js';
import { cpuSecondsOf, ownCpuSeconds, processTreeCpuSeconds } from './lib/cpu.js';
import { quoteId } from './lib/data.js';
import type { BenchContext, CpuReading, ScenarioResult, ShardTarget } from './lib/context.js';
import { describeMachine, renderTable } from './lib/report.js';
import { mainThreadProfile, renderProfile, summarizeProfile, type ProfileSummary } from './lib/profile-summary.js';
import { bulkIngest, graphqlIngest, manyFamilies, rssCheck, seedFloor, smallRequests, wideIngest } from './scenarios/ingest.js';
import { graphqlQueries, loadQueryFixture, queryScenarios, type QueryFixture } from './scenarios/query.js';
import { crossShard } from './scenarios/cross-shard.js';
import { familyMove } from './scenarios/move.js';
import { spreadFamily } from './scenarios/spread.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_DIR = join(ROOT, 'bench', 'results');
/** Report order of the rows. */
const ORDER = ['1', '2', '3', '4', '5a', '5b', '6a', '6b', '7a', '7b', '7c', '8', '9', '9p', '9u', '10', '10a', '10b', '10c', '10d', 'rss'];

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function shardUrl(shard: ShardTarget, database: string): string {
  const auth = `${encodeURIComponent(shard.user)}${shard.password === '' ? '' : `:${encodeURIComponent(shard.password)}`}`;
  return `${shard.id}=mysql://${auth}@${shard.host}:${shard.port}/${database}`;
}

async function serverVersion(shard: ShardTarget): Promise<string> {
  const c = await mysql.createConnection({ host: shard.host, port: shard.port, user: shard.user, password: shard.password });
  try {
    const [rows] = await c.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v');
    const v = String(rows[0]?.['v'] ?? '?');
    return /mariadb/i.test(v) ? `MariaDB ${v}` : `MySQL ${v}`;
  } finally {
    await c.end();
  }
}

async function dropDatabases(shards: readonly ShardTarget[], names: readonly string[]): Promise<void> {
  for (const shard of shards) {
    const c = await mysql.createConnection({ host: shard.host, port: shard.port, user: shard.user, password: shard.password }).catch(() => undefined);
    if (c === undefined) continue;
    for (const name of names) await c.query(`DROP DATABASE IF EXISTS ${quoteId(name)}`).catch(() => undefined);
    await c.end().catch(() => undefined);
  }
}

async function main(options: BenchOptions): Promise<number> {
  const stamp = Date.now().toString(36);
  const external = options.shards.length > 0;
  let cluster: Cluster | undefined;
  let gateway: Gateway | undefined;
  let shards: ShardTarget[] = [];
  const gatewayDb = external ? `databalancer_bench_${stamp}` : 'databalancer';
  const baselineDb = `bench_baseline_${stamp}`;
  const singleDb = `bench_single_${stamp}`;
  const loaderDb = `bench_loader_${stamp}`;
  const profileDir = options.profile ? join(RESULTS_DIR, 'profiles') : undefined;

  let closeAdmins: () => Promise<void> = async () => undefined;
  let cleaned: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    cleaned ??= (async () => {
      stopAllLoads();
      await closeAdmins();
      if (gateway !== undefined) await gateway.stop().catch(() => undefined);
      if (external) await dropDatabases(shards, [gatewayDb, baselineDb, singleDb, loaderDb]);
      if (cluster !== undefined) await cluster.stop().catch((error: unknown) => log(`could not stop the shards: ${String(error)}`));
    })();
    return cleaned;
  };
  const onSignal = (signal: string): void => {
    log(`${signal}: stopping the load, the gateway and the shards`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));

  const started = new Date();
  try {
    if (external) {
      shards = options.shards.map((s: ServerEndpoint) => ({ ...s }));
      log(`using ${shards.length} given servers; gateway database ${gatewayDb}`);
    } else {
      log('starting three throwaway shards');
      cluster = await startCluster({ count: 3, names: ['shard_a', 'shard_b', 'shard_c'] });
      shards = cluster.servers.map((s) => ({ id: s.name, host: s.host, port: s.port, user: 'root', password: '' }));
    }
    const server = await serverVersion(shards[0] as ShardTarget);
    const gatewayArgs = [`--federation_max_rows=${Math.max(1_000_000, 2 * options.crossShardEvents)}`, ...options.gatewayArgs];
    log(`starting the gateway (${gatewayArgs.join(' ')})${options.profile ? ' under --cpu-prof' : ''}`);
    gateway = await startGateway({
      root: ROOT,
      build: options.gateway,
      shards: shards.map((s) => shardUrl(s, gatewayDb)).join(','),
      extraArgs: gatewayArgs,
      profileDir,
      logFile: join(tmpdir(), `databalancer-bench-gateway-${stamp}.log`),
    });
    const machine = describeMachine(server, gateway.build);
    log(`gateway pid ${gateway.pid} at ${gateway.url} (${gateway.build}); log ${gateway.logFile}`);
    const admins = await Promise.all(
      shards.map((s) => mysql.createConnection({ host: s.host, port: s.port, user: s.user, password: s.password })),
    );
    closeAdmins = async () => {
      await Promise.all(admins.map((c) => c.end().catch(() => undefined)));
    };
    const countStatements = async (): Promise<number> => {
      const counts = await Promise.all(
        admins.map(async (c) => {
          const [rows] = await c.query<mysql.RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Questions'");
          return Number(rows[0]?.['Value'] ?? 0);
        }),
      );
      return counts.reduce((a, b) => a + b, 0);
    };
    // Servers the harness started: their pids, for CPU per operation (unknown for --shards).
    const serverPids = (cluster?.servers ?? []).map((s) => Number.parseInt(readFileSync(s.pidFile, 'utf8').trim(), 10));
    const running = gateway;
    const cpuSeconds = (): CpuReading => ({
      gateway: processTreeCpuSeconds(running.pid),
      servers: cpuSecondsOf(serverPids),
      client: ownCpuSeconds(),
    });
    const ctx: BenchContext = {
      countStatements,
      cpuSeconds,
      options,
      root: ROOT,
      gateway,
      sampler: new RssSampler(gateway),
      shards,
      gatewayDb,
      baselineDb,
      singleDb,
      loaderDb,
      stamp,
      log,
      results: new Map(),
    };
    const results: ScenarioResult[] = [];
    const record = (list: ScenarioResult | ScenarioResult[]): void => {
      for (const r of Array.isArray(list) ? list : [list]) {
        results.push(r);
        ctx.results.set(r.id, r);
      }
    };
    const attempt = async (label: string, ids: string[], work: () => Promise<ScenarioResult | ScenarioResult[]>): Promise<void> => {
      try {
        record(await work());
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        log(`scenario ${label} failed: ${message}`);
        record(ids.map((id) => ({ id, title: `scenario ${label}`, unit: 'rows/s' as const, baselineLabel: '-', target: '-', notes: [], skipped: `failed: ${message.slice(0, 200)}` })));
      }
    };
    const want = (key: string): boolean => options.only.has(key);

    // Scenario 6 first: its raw_logs comparison needs shards that hold only its events.
    if (want('6')) await attempt('6', ['6a', '6b'], () => crossShard(ctx));
    let fixture: QueryFixture | undefined;
    if (want('5') || want('7')) {
      await attempt('5 (load)', ['5'], async () => {
        const rows = options.quick ? 20_000 : 200_000;
        log(`scenario 5: loading ${rows} events for the query scenarios`);
        fixture = await loadQueryFixture(ctx, rows);
        return [];
      });
    }
    if (want('5') && fixture !== undefined) {
      const f = fixture;
      await attempt('5', ['5a', '5b'], () => queryScenarios(ctx, f));
    }
    if (want('1')) await attempt('1', ['1'], () => bulkIngest(ctx));
    if (want('2')) await attempt('2', ['2'], () => manyFamilies(ctx));
    if (want('3')) await attempt('3', ['3'], () => wideIngest(ctx));
    if (want('4')) await attempt('4', ['4'], () => smallRequests(ctx));
    if (want('7')) {
      await attempt('7a', ['7a'], () => graphqlIngest(ctx));
      if (fixture !== undefined) {
        const f = fixture;
        await attempt('7b/7c', ['7b', '7c'], () => graphqlQueries(ctx, f));
      }
    }
    if (want('8')) await attempt('8', ['8'], () => seedFloor(ctx));
    if (want('9')) await attempt('9', ['9', '9p', '9u'], () => familyMove(ctx));
    if (want('10')) await attempt('10', ['10'], () => spreadFamily(ctx));
    if (want('rss')) await attempt('rss', ['rss'], () => rssCheck(ctx));

    const memory = gateway.memory();
    results.sort((a, b) => ORDER.indexOf(a.id) - ORDER.indexOf(b.id));
    const mode = options.quick ? 'quick (1 run per side, short)' : `full (${options.runs} runs per side, medians)`;
    const table = renderTable(machine, results, `${mode}; ${options.runSeconds} s per run, ${options.warmupSeconds} s warm-up`);
    log(`gateway lifetime peak RSS (VmHWM): ${memory === undefined ? '?' : (memory.hwm / 1048576).toFixed(0)} MB`);

    await gateway.stop();
    let profile: ProfileSummary | undefined;
    if (profileDir !== undefined) {
      const file = mainThreadProfile(profileDir, gateway.pid);
      if (file !== undefined) profile = summarizeProfile(file);
    }
    process.stdout.write(`\n${table}\n`);
    if (profile !== undefined) process.stdout.write(`\n${renderProfile(profile)}\n`);

    await mkdir(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `${started.toISOString().replace(/[:.]/g, '-')}.json`);
    const json = {
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      mode: options.quick ? 'quick' : 'full',
      machine,
      options: { ...options, only: [...options.only], shards: options.shards.map((s) => `${s.id}=${s.host}:${s.port}`) },
      gatewayArgs,
      gatewayLifetimePeakRssBytes: memory?.hwm,
      scenarios: results,
      profile,
      table,
    };
    await writeFile(file, `${JSON.stringify(json, null, 2)}\n`);
    log(`raw figures written to ${file}`);
    return results.some((r) => r.skipped?.startsWith('failed') === true) ? 1 : 0;
  } finally {
    await cleanup();
  }
}

let options: BenchOptions;
try {
  options = parseBenchArgs(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${HELP}`);
  process.exit(2);
}
if (options.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
main(options).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
