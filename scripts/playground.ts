/**
 * `npm run playground`: starts three throwaway MariaDB/MySQL shards (shard_a,
 * shard_b, shard_c) with their data in .playground/ under the repo, then runs
 * the gateway (src/main.ts) against them in the foreground. Extra arguments
 * are passed to the gateway, e.g. `npm run playground -- --server_address=:9090`.
 *
 * Ctrl-C (or SIGTERM) stops the gateway, stops every shard and removes the
 * data. If the gateway exits by itself, the shards are cleaned up too and the
 * playground exits with the gateway's exit code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, stopServer, type Cluster, type ServerSpec } from './lib/mariadb-cluster.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BASE_DIR = join(REPO_ROOT, '.playground');
const SHARD_NAMES = ['shard_a', 'shard_b', 'shard_c'];
const DATABASE = 'databalancer';
/** How long the gateway gets to shut down after SIGTERM before SIGKILL. */
const GATEWAY_GRACE_MS = 10_000;

function say(line: string): void {
  process.stderr.write(`[playground] ${line}\n`);
}

/** Stops servers left running by a playground that was killed (kill -9) and removes its data. */
async function cleanStaleRun(): Promise<void> {
  if (!existsSync(BASE_DIR)) return;
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
}

/** The gateway's HTTP address for the examples, from --server_address/-server_address or the env. */
function gatewayUrl(args: string[]): string {
  let address = process.env['DATABALANCER_SERVER_ADDRESS'] ?? ':8080';
  args.forEach((arg, i) => {
    const match = /^--?server_address(?:=(.*))?$/.exec(arg);
    if (match === null) return;
    const value = match[1] ?? args[i + 1];
    if (value !== undefined) address = value;
  });
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

async function main(): Promise<void> {
  const gatewayArgs = process.argv.slice(2);
  await cleanStaleRun();

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

  process.off('SIGINT', early).off('SIGTERM', early).off('SIGHUP', early);

  const shardsFlag = cluster.servers.map((s) => `${s.name}=mysql://root@${s.host}:${s.port}/${DATABASE}`).join(',');
  const args = ['--import', 'tsx', join(REPO_ROOT, 'src', 'main.ts'), `--shards=${shardsFlag}`, ...gatewayArgs];
  say(`starting the gateway: tsx src/main.ts --shards=${shardsFlag} ${gatewayArgs.join(' ')}`.trimEnd());
  const gateway = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: 'inherit' });

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
