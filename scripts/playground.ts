/**
 * `npm run playground`: starts three throwaway MariaDB/MySQL shards (shard_a,
 * shard_b, shard_c) with their data in .playground/ under the repo, then runs
 * the gateway (src/main.ts) against them in the foreground. Extra arguments
 * are passed to the gateway, e.g. `npm run playground -- --server_address=:9090`.
 *
 * Ctrl-C (or SIGTERM/SIGINT sent to the npm process, which npm passes on)
 * stops the gateway, stops every shard and removes the data. If the gateway
 * exits by itself, the shards are cleaned up too and the playground exits with
 * the gateway's exit code.
 *
 * Everything it starts is recorded in .playground/pids.json (pid and command
 * line). After a kill -9 of the playground, the next run stops what that file
 * lists, if each process still runs the recorded command line, before it
 * removes the old data. It then refuses to start when the gateway's port is
 * taken, naming the process that holds it.
 *
 * PLAYGROUND_DIR=<dir> puts the data (and pids.json) elsewhere than
 * .playground/ (the tests use it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, stopServer, type Cluster, type ServerSpec } from './lib/mariadb-cluster.js';
import { commandLineOf, describeProcess, isStillRunning, listenersOf, probePort, stopRecorded, type RecordedProcess } from './lib/processes.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BASE_DIR = resolve(process.env['PLAYGROUND_DIR'] ?? join(REPO_ROOT, '.playground'));
/** What this run started, for the next run after a kill -9: see {@link PidsFile}. */
const PIDS_FILE = join(BASE_DIR, 'pids.json');
const SHARD_NAMES = ['shard_a', 'shard_b', 'shard_c'];
const DATABASE = 'databalancer';
/** How long the gateway gets to shut down after SIGTERM before SIGKILL. */
const GATEWAY_GRACE_MS = 10_000;

function say(line: string): void {
  process.stderr.write(`[playground] ${line}\n`);
}

/** .playground/pids.json: the processes a run started, each with its command line (against pid reuse). */
interface PidsFile {
  playground: RecordedProcess;
  shards: Array<RecordedProcess & { name: string }>;
  gateway?: RecordedProcess;
}

function readPidsFile(): PidsFile | undefined {
  try {
    const parsed = JSON.parse(readFileSync(PIDS_FILE, 'utf8')) as PidsFile;
    return typeof parsed.playground?.pid === 'number' && Array.isArray(parsed.shards) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function pidsText(pids: PidsFile): string {
  return `${JSON.stringify(pids, null, 2)}\n`;
}

async function writePidsFile(pids: PidsFile): Promise<void> {
  await writeFile(PIDS_FILE, pidsText(pids));
}

/** This process as recorded in pids.json. */
function self(): RecordedProcess {
  return { pid: process.pid, argv: commandLineOf(process.pid) ?? [process.execPath, ...process.execArgv, ...process.argv.slice(1)] };
}

class Refusal extends Error {}

/**
 * Stops what an earlier run that was killed (kill -9) left running, by the
 * pids it recorded (only processes still running the recorded command line),
 * then the servers found in its data, and removes the data.
 * @throws Refusal when that earlier playground itself still runs.
 */
/** Cleans up an earlier run; true when it stopped a process of it (its sockets may take a moment to close). */
async function cleanStaleRun(): Promise<boolean> {
  if (!existsSync(BASE_DIR)) return false;
  let stopped = false;
  const pids = readPidsFile();
  if (pids !== undefined && pids.playground.pid !== process.pid && isStillRunning(pids.playground)) {
    throw new Refusal(
      `another playground is running in ${BASE_DIR}: ${describeProcess(pids.playground.pid)}; stop it first (kill ${pids.playground.pid})`,
    );
  }
  if (pids?.gateway !== undefined && (await stopRecorded(pids.gateway, GATEWAY_GRACE_MS))) {
    say(`stopped the gateway an earlier run left running (pid ${pids.gateway.pid})`);
    stopped = true;
  }
  for (const shard of pids?.shards ?? []) {
    if (await stopRecorded(shard)) {
      say(`stopped shard ${shard.name} an earlier run left running (pid ${shard.pid})`);
      stopped = true;
    }
  }
  say(`removing the data of an earlier run in ${BASE_DIR}`);
  for (const entry of readdirSync(BASE_DIR, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dir = join(BASE_DIR, entry.name);
    // Only pidFile and dataDir matter to stopServer (it checks the process's --datadir).
    const spec: ServerSpec = {
      name: entry.name,
      host: '127.0.0.1',
      port: 0,
      baseDir: dir,
      dataDir: join(dir, 'data'),
      socket: join(dir, 'mysqld.sock'),
      pidFile: join(dir, 'mysqld.pid'),
      tmpDir: join(dir, 'tmp'),
      logFile: join(dir, 'error.log'),
    };
    await stopServer(spec);
  }
  await rm(BASE_DIR, { recursive: true, force: true });
  return stopped;
}

/** How long a port may stay taken after the leftover that held it was stopped. */
const PORT_RELEASE_WAIT_MS = 10_000;

/** The gateway's --server_address (as the gateway reads it: the last flag wins over the env), default `:8080`. */
function serverAddress(args: string[]): string {
  let address = process.env['DATABALANCER_SERVER_ADDRESS'] ?? ':8080';
  args.forEach((arg, i) => {
    const match = /^--?server[_-]address(?:=(.*))?$/.exec(arg);
    if (match === null) return;
    const value = match[1] ?? args[i + 1];
    if (value !== undefined) address = value;
  });
  return address;
}

/** The gateway's HTTP address for the examples, from --server_address/-server_address or the env. */
function gatewayUrl(args: string[]): string {
  const address = serverAddress(args);
  const colon = address.lastIndexOf(':');
  const host = colon <= 0 ? '' : address.slice(0, colon);
  const port = colon < 0 ? address : address.slice(colon + 1);
  const reachable = host === '' || host === '0.0.0.0' || host === '::' || host === '[::]' ? '127.0.0.1' : host;
  return `http://${reachable}:${port}`;
}

function curlExamples(url: string): string {
  const ingest = JSON.stringify({
    family: 'dog_registry',
    schema: { name: 'string', breed: 'string', weight: 'int', seen: 'timestamp' },
    logs: [
      { name: 'Rex', breed: 'collie', weight: 30, seen: '2024-05-01T12:00:00Z' },
      { name: 'Fido', breed: 'pug', weight: 8, seen: 1714564800 },
    ],
  });
  const query = JSON.stringify({ query: 'SELECT name, weight FROM dog_registry ORDER BY weight DESC' });
  return [
    `  curl -s -X PUT ${url}/api/log -H 'Content-Type: application/json' -d '${ingest}'`,
    `  curl -s -X POST ${url}/api/query -H 'Content-Type: application/json' -d '${query}'`,
    `  curl -s ${url}/api/describe`,
    `  GraphQL sandbox: ${url}/graphql`,
  ].join('\n');
}

async function waitForGateway(url: string, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) });
      if (response.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((done) => setTimeout(done, 250));
  }
  return false;
}

/** The host and port the gateway will listen on, from --server_address/-server_address or the env. */
function gatewayListen(args: string[]): { host: string; port: number } {
  const address = serverAddress(args);
  const colon = address.lastIndexOf(':');
  const host = colon <= 0 ? '0.0.0.0' : address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(address.slice(colon + 1)) };
}

/** Refuses to start when the gateway's port cannot be bound, naming who holds it. */
async function checkGatewayPort(args: string[], afterStoppingLeftovers: boolean): Promise<void> {
  const { host, port } = gatewayListen(args);
  if (!Number.isInteger(port) || port <= 0) return; // the gateway reports a bad address itself
  let problem = await probePort(host, port);
  // A leftover gateway just stopped may not have released its socket yet (seen once in CI).
  const deadline = Date.now() + (afterStoppingLeftovers ? PORT_RELEASE_WAIT_MS : 0);
  while (problem === 'EADDRINUSE' && Date.now() < deadline) {
    await new Promise((done) => setTimeout(done, 200));
    problem = await probePort(host, port);
  }
  if (problem === undefined) return;
  const holders = listenersOf(port).map((pid) => describeProcess(pid));
  const by = holders.length > 0 ? ` by ${holders.join(', ')}` : '';
  const hint = problem === 'EADDRINUSE' ? `port ${port} is already in use${by}` : `cannot listen on ${host}:${port} (${problem})`;
  throw new Refusal(`not starting: the gateway's ${hint}; stop that process or choose another port, e.g. npm run playground -- --server_address=:9090`);
}

async function main(): Promise<void> {
  const gatewayArgs = process.argv.slice(2);
  const stoppedLeftovers = await cleanStaleRun();
  await checkGatewayPort(gatewayArgs, stoppedLeftovers);
  // Recorded before anything starts, so that a second playground refuses to touch this one.
  await mkdir(BASE_DIR, { recursive: true });
  const pids: PidsFile = { playground: self(), shards: [] };
  await writePidsFile(pids);

  // Until the real handlers are in place, a signal exits at once; the cluster's
  // exit hook then kills whatever servers already started and removes the data.
  const early = (): void => process.exit(130);
  process.on('SIGINT', early).on('SIGTERM', early).on('SIGHUP', early);
  const started = Date.now();
  say(`starting ${SHARD_NAMES.length} throwaway shards in ${BASE_DIR} ...`);
  const cluster: Cluster = await startCluster({ count: SHARD_NAMES.length, names: SHARD_NAMES, baseDir: BASE_DIR });
  say(`shards up in ${((Date.now() - started) / 1000).toFixed(1)}s:`);
  for (const s of cluster.servers) {
    say(`  ${s.name}: mysql://root@${s.host}:${s.port}/${DATABASE}   (mariadb -h ${s.host} -P ${s.port} -u root)`);
  }

  pids.shards = cluster.servers.flatMap((s) => {
    let pid = Number.NaN;
    try {
      pid = Number.parseInt(readFileSync(s.pidFile, 'utf8').trim(), 10);
    } catch {
      // no pid file: the next run still finds the server through its data dir
    }
    const argv = Number.isInteger(pid) ? commandLineOf(pid) : undefined;
    return argv === undefined ? [] : [{ name: s.name, pid, argv }];
  });
  await writePidsFile(pids);

  process.off('SIGINT', early).off('SIGTERM', early).off('SIGHUP', early);

  const shardsFlag = cluster.servers.map((s) => `${s.name}=mysql://root@${s.host}:${s.port}/${DATABASE}`).join(',');
  const args = ['--import', 'tsx', join(REPO_ROOT, 'src', 'main.ts'), `--shards=${shardsFlag}`, ...gatewayArgs];
  say(`starting the gateway: tsx src/main.ts --shards=${shardsFlag} ${gatewayArgs.join(' ')}`.trimEnd());
  const gateway = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: 'inherit' });
  if (gateway.pid !== undefined) {
    pids.gateway = { pid: gateway.pid, argv: commandLineOf(gateway.pid) ?? [process.execPath, ...args] };
    // Synchronously: no signal may arrive before the handlers below are in place.
    writeFileSync(PIDS_FILE, pidsText(pids));
  }

  let shuttingDown = false;
  const gatewayExit = new Promise<number>((done) => {
    gateway.once('exit', (code, signal) => done(code ?? (signal === null ? 1 : 0)));
    gateway.once('error', (error) => {
      say(`could not start the gateway: ${error.message}`);
      done(1);
    });
  });

  const shutdown = async (reason: string, exitCode: number | undefined): Promise<never> => {
    shuttingDown = true;
    say(`${reason}: stopping the gateway and the shards ...`);
    if (gateway.exitCode === null && gateway.signalCode === null) {
      gateway.kill('SIGTERM');
      const timer = setTimeout(() => gateway.kill('SIGKILL'), GATEWAY_GRACE_MS);
      await gatewayExit;
      clearTimeout(timer);
    }
    const code = exitCode ?? (await gatewayExit);
    await cluster.stop();
    say(`shards stopped and ${BASE_DIR} removed`);
    process.exit(code);
  };

  let signals = 0;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      signals += 1;
      if (signals > 1) {
        // Second Ctrl-C: do not wait for the gateway's graceful shutdown.
        gateway.kill('SIGKILL');
        return;
      }
      void shutdown(`received ${sig}`, 0);
    });
  }

  void gatewayExit.then((code) => {
    if (shuttingDown) return;
    void shutdown(`the gateway exited with code ${code}`, code);
  });

  const url = gatewayUrl(gatewayArgs);
  if (await waitForGateway(url, gateway)) {
    say(`gateway ready at ${url}. Try:\n${curlExamples(url)}\n[playground] Ctrl-C stops everything and removes the data.`);
  } else if (!shuttingDown && gateway.exitCode === null) {
    say(`gateway not answering ${url}/healthz yet; once it does, try:\n${curlExamples(url)}`);
  }
}

main().catch((error: unknown) => {
  say(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
