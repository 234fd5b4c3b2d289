/**
 * The two load generators: autocannon against the gateway's HTTP API, and a
 * mysql2 worker loop for the direct baselines. Both run closed loops (each
 * client sends its next request when the previous one answered) with the
 * same concurrency, and report the same figures.
 */
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import mysql from 'mysql2/promise';
import { percentile } from './stats.js';

/** What one measured run produced, on either side. */
export interface LoadResult {
  /** Successful operations (HTTP 2xx without a GraphQL error; committed transactions; queries). */
  ops: number;
  /** Failed operations. */
  errors: number;
  /** Wall-clock seconds of the run. */
  seconds: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p99: number;
  /** The first failure, for the report. */
  firstError?: string | undefined;
}

/** One HTTP request of a load: body already serialised. */
export interface HttpJob {
  method: 'PUT' | 'POST';
  path: string;
  body: Buffer;
}

/** How long (or how many requests) and how wide a load runs. */
export interface LoadShape {
  connections: number;
  /** Seconds; ignored when `amount` is set. */
  seconds: number;
  /** Total operations instead of a duration (for slow queries). */
  amount?: number | undefined;
  /** Per-request timeout in seconds (HTTP side). */
  timeoutSeconds?: number | undefined;
}

const running = new Set<autocannon.Instance>();
let stopping = false;

/** Stops every running autocannon instance and makes SQL loops end (Ctrl-C). */
export function stopAllLoads(): void {
  stopping = true;
  for (const instance of running) instance.stop();
}

/**
 * Drives the gateway with autocannon. Each client cycles through `jobs`,
 * starting at its own offset so that concurrent requests carry different
 * bodies. A response counts as an error when its status is not 2xx or its
 * body contains a GraphQL `"errors"` key.
 */
export function runHttpLoad(url: string, jobs: readonly HttpJob[], shape: LoadShape): Promise<LoadResult> {
  if (jobs.length === 0) throw new Error('runHttpLoad: no jobs');
  let firstError: string | undefined;
  let clientIndex = 0;
  const toRequest = (job: HttpJob): autocannon.Request => ({
    method: job.method,
    path: job.path,
    headers: { 'content-type': 'application/json' },
    body: job.body,
    onResponse: (status: number, body: string) => {
      if (firstError === undefined && (status < 200 || status >= 300 || body.includes('"errors"'))) {
        firstError = `HTTP ${status}: ${body.slice(0, 400)}`;
      }
    },
  });
  const requests = jobs.map(toRequest);
  return new Promise((resolve, reject) => {
    const options: autocannon.Options = {
      url,
      connections: shape.connections,
      duration: shape.seconds,
      timeout: shape.timeoutSeconds ?? 30,
      requests,
      verifyBody: (body) => typeof body !== 'string' || !body.includes('"errors"'),
      setupClient: (client) => {
        const offset = (clientIndex++ * Math.max(1, Math.floor(requests.length / shape.connections))) % requests.length;
        if (offset > 0) client.setRequests([...requests.slice(offset), ...requests.slice(0, offset)]);
      },
    };
    if (shape.amount !== undefined) options.amount = shape.amount;
    // autocannon's histogram keeps whole milliseconds; the 'response' event carries the exact duration.
    const latencies: number[] = [];
    const instance = autocannon(options, (error: unknown, result: autocannon.Result) => {
      running.delete(instance);
      if (error !== null && error !== undefined) {
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      const failed = result.non2xx + result.errors + result.mismatches;
      resolve({
        ops: Math.max(0, result['2xx'] - result.mismatches),
        errors: failed,
        seconds: (result.finish.getTime() - result.start.getTime()) / 1000,
        p50: latencies.length > 0 ? percentile(latencies, 50) : result.latency.p50,
        p99: latencies.length > 0 ? percentile(latencies, 99) : result.latency.p99,
        firstError: failed > 0 ? (firstError ?? `${result.errors} connection errors, ${result.timeouts} timeouts`) : undefined,
      });
    });
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      latencies.push(responseTime);
    });
    running.add(instance);
  });
}

/** Connection settings of a direct (baseline) client. */
export interface DirectTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/**
 * Opens a mysql2 connection with the session the gateway's writer pool uses
 * (strict sql_mode, UTC, utf8mb4), so the baseline does the same work.
 */
export async function openDirect(target: DirectTarget): Promise<mysql.Connection> {
  const connection = await mysql.createConnection({
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database,
    charset: 'utf8mb4_unicode_ci',
    timezone: 'Z',
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: false,
  });
  await connection.query(
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', time_zone = '+00:00', NAMES utf8mb4",
  );
  return connection;
}

/**
 * Runs `job(worker, sequence)` in `shape.connections` concurrent closed loops
 * for `shape.seconds` (or `shape.amount` jobs in total), timing each job.
 * A failing job is counted; a loop gives up after 100 failures.
 */
export async function runSqlLoad(shape: LoadShape, job: (worker: number, sequence: number) => Promise<void>): Promise<LoadResult> {
  const latencies: number[] = [];
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  let issued = 0;
  const started = performance.now();
  const deadline = started + shape.seconds * 1000;
  const more = (): boolean => !stopping && (shape.amount !== undefined ? issued < shape.amount : performance.now() < deadline);
  const loop = async (worker: number): Promise<void> => {
    let failures = 0;
    while (more()) {
      const sequence = issued++;
      const t0 = performance.now();
      try {
        await job(worker, sequence);
        latencies.push(performance.now() - t0);
        ops++;
      } catch (error) {
        errors++;
        firstError ??= error instanceof Error ? error.message : String(error);
        if (++failures >= 100) return;
      }
    }
  };
  await Promise.all(Array.from({ length: shape.connections }, (_, worker) => loop(worker)));
  return {
    ops,
    errors,
    seconds: (performance.now() - started) / 1000,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    firstError,
  };
}
