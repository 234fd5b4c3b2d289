/**
 * Throwaway MariaDB/MySQL shard launcher for the integration tests
 * (test/setup/global-setup.ts), `npm run playground` and the benchmarks.
 *
 * It owns: finding a server binary, initialising ONE template data folder,
 * copying it per server, starting and stopping each server on its own loopback
 * port, socket, pid file and tmpdir, and removing everything afterwards.
 * It must not: touch any server it did not start (every kill is checked against
 * the process's command line), or depend on anything being installed besides
 * the server packages.
 *
 * Servers are detached from the process that starts them, so a test worker can
 * stop and restart a shard that the vitest main process launched; the pid file
 * is the cross-process truth about which process is a server.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, rmSync, statfsSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, delimiter, join, resolve } from 'node:path';
import mysql from 'mysql2/promise';

/** Everything needed to start, stop and reach one throwaway server. */
export interface ServerSpec {
  /** Stable name, e.g. `shard_a`; also the folder name under the cluster's base dir. */
  name: string;
  /** Always `127.0.0.1`: servers only listen on loopback. */
  host: string;
  /** TCP port, chosen free at cluster start and kept across restarts. */
  port: number;
  /** This server's own folder (holds data, tmp, socket, pid and log). */
  baseDir: string;
  dataDir: string;
  socket: string;
  pidFile: string;
  /** Own `--tmpdir`: a starting mariadbd deletes `#sql*` files in its tmpdir. */
  tmpDir: string;
  /** `--log-error` file; its tail is quoted when a start fails. */
  logFile: string;
}

/** Which server family a binary belongs to; they are initialised differently. */
export type ServerFlavor = 'mariadb' | 'mysql';

/** The binaries found by {@link findServerBinary}. */
export interface ServerBinaries {
  /** `mariadbd` or `mysqld` (absolute path). */
  server: string;
  /** `mariadb-install-db`/`mysql_install_db` for MariaDB; the server itself for MySQL (`--initialize-insecure`). */
  installDb: string;
  flavor: ServerFlavor;
}

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** Number of servers (>= 1). */
  count: number;
  /**
   * Folder for all data. Created if missing and removed by `stop()`. Default:
   * a fresh folder under /dev/shm when it exists with 256 MB free per server
   * (faster), else under os.tmpdir().
   */
  baseDir?: string;
  /** Server names, `count` of them; default `shard_a`, `shard_b`, ... */
  names?: string[];
  /**
   * When true (the default), a process `exit` without `stop()` kills the
   * servers and removes the data, so a crashed test run does not leak servers.
   */
  cleanupOnExit?: boolean;
}

/** A running cluster returned by {@link startCluster}. */
export interface Cluster {
  servers: ServerSpec[];
  baseDir: string;
  /** Stops every server and removes the base dir. Safe to call twice. */
  stop(): Promise<void>;
}

/** How long a start may take before it is reported as failed. */
const START_TIMEOUT_MS = 60_000;
/** How long a SIGTERM'd server gets before SIGKILL. */
const STOP_GRACE_MS = 10_000;
/** Readiness poll interval. */
const POLL_MS = 50;
/** Unix socket paths are limited to 108 bytes (sun_path); stay well below. */
const MAX_SOCKET_PATH = 100;

const EXTRA_SEARCH_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/mysql/bin', '/usr/local/bin'];

function searchDirs(): string[] {
  const fromPath = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '');
  return [...new Set([...fromPath, ...EXTRA_SEARCH_DIRS])];
}

function findExecutable(names: string[], dirs: string[]): string | undefined {
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      try {
        if (statSync(candidate).isFile()) return candidate;
      } catch {
        // not there; keep looking
      }
    }
  }
  return undefined;
}

function detectFlavor(server: string): ServerFlavor {
  if (basename(server) === 'mariadbd') return 'mariadb';
  // Debian ships /usr/sbin/mysqld as a symlink to mariadbd; ask the binary.
  try {
    const version = execFileSync(server, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    return /mariadb/i.test(version) ? 'mariadb' : 'mysql';
  } catch {
    return 'mysql';
  }
}

/**
 * Finds a server binary: `mariadbd`, else `mysqld`, on PATH or in /usr/sbin
 * (and a few usual places), plus the matching initialiser
 * (`mariadb-install-db`/`mysql_install_db` for MariaDB, `mysqld
 * --initialize-insecure` for MySQL).
 *
 * @throws Error telling to install mariadb-server when no server is found.
 */
export function findServerBinary(): ServerBinaries {
  const dirs = searchDirs();
  const server = findExecutable(['mariadbd', 'mysqld'], dirs);
  if (server === undefined) {
    throw new Error(
      'No MariaDB/MySQL server binary found (looked for mariadbd and mysqld on PATH and in ' +
        `${EXTRA_SEARCH_DIRS.join(', ')}). Install one, e.g. ` +
        '`sudo apt-get install -y mariadb-server` (Debian/Ubuntu) or `brew install mariadb` (macOS). ' +
        'Nothing needs to be running: the tests start their own throwaway servers.',
    );
  }
  const flavor = detectFlavor(server);
  if (flavor === 'mysql') return { server, installDb: server, flavor };
  const installDb = findExecutable(['mariadb-install-db', 'mysql_install_db'], [...dirs, '/usr/bin', '/usr/scripts']);
  if (installDb === undefined) {
    throw new Error(
      `Found ${server} but no mariadb-install-db/mysql_install_db to initialise a data folder. ` +
        'Install the full server package, e.g. `sudo apt-get install -y mariadb-server`.',
    );
  }
  return { server, installDb, flavor };
}

/** Options shared by initialisation and every start: small, fast, loopback-only. */
function tuningArgs(flavor: ServerFlavor): string[] {
  const args = [
    '--innodb-buffer-pool-size=64M',
    '--innodb-log-file-size=16M',
    '--innodb-flush-log-at-trx-commit=2',
    '--character-set-server=utf8mb4',
    '--skip-log-bin',
    '--performance-schema=OFF',
    // Nothing to warm up in a throwaway server; skipping the dump also speeds up shutdown.
    '--innodb-buffer-pool-load-at-startup=OFF',
    '--innodb-buffer-pool-dump-at-shutdown=OFF',
  ];
  if (flavor === 'mariadb') args.push('--collation-server=utf8mb4_general_ci');
  // MySQL 8 also opens an X Protocol port (33060) by default: several servers would clash.
  if (flavor === 'mysql') args.push('--mysqlx=OFF');
  return args;
}

function userArgs(): string[] {
  // mariadbd/mysqld refuse to run as root unless told to.
  return process.getuid?.() === 0 ? ['--user=root'] : [];
}

/** Picks `count` distinct free loopback ports (held open together so they differ). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => {
      return new Promise<import('node:net').Server>((resolvePort, reject) => {
        const srv = createServer();
        srv.unref();
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => resolvePort(srv));
      });
    }),
  );
  const ports = servers.map((srv) => {
    const address = srv.address();
    if (address === null || typeof address === 'string') throw new Error('could not read a free port');
    return address.port;
  });
  await Promise.all(servers.map((srv) => new Promise<void>((done) => srv.close(() => done()))));
  return ports;
}

/** Free space /dev/shm must have per server to be used (containers often mount only 64 MB there). */
const SHM_BYTES_PER_SERVER = 256 * 1024 * 1024;

function defaultRoot(count: number): string {
  try {
    const fsStats = statfsSync('/dev/shm');
    if (fsStats.bavail * fsStats.bsize >= count * SHM_BYTES_PER_SERVER) return '/dev/shm';
  } catch {
    // no /dev/shm (macOS)
  }
  return tmpdir();
}

function makeSpec(name: string, serverDir: string, port: number): ServerSpec {
  let socket = join(serverDir, 'mysqld.sock');
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) socket = join(tmpdir(), `databalancer-${port}.sock`);
  return {
    name,
    host: '127.0.0.1',
    port,
    baseDir: serverDir,
    dataDir: join(serverDir, 'data'),
    socket,
    pidFile: join(serverDir, 'mysqld.pid'),
    tmpDir: join(serverDir, 'tmp'),
    logFile: join(serverDir, 'error.log'),
  };
}

async function runToCompletion(cmd: string, args: string[], logFile: string): Promise<void> {
  const output: Buffer[] = [];
  const code = await new Promise<number | null>((done, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
    child.once('error', reject);
    child.once('close', (exitCode) => done(exitCode));
  });
  const text = Buffer.concat(output).toString('utf8');
  await writeFile(logFile, text);
  if (code !== 0) {
    throw new Error(`${basename(cmd)} failed (exit code ${String(code)}); its output (also in ${logFile}):\n${tail(text, 30)}`);
  }
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Initialises the template data folder once; servers start from copies of it. */
async function initTemplate(bin: ServerBinaries, templateDir: string, workDir: string): Promise<void> {
  const tmp = join(workDir, 'template-tmp');
  await mkdir(tmp, { recursive: true });
  const logFile = join(workDir, 'install-db.log');
  if (bin.flavor === 'mariadb') {
    await mkdir(templateDir, { recursive: true });
    await runToCompletion(
      bin.installDb,
      [
        '--no-defaults',
        '--auth-root-authentication-method=normal',
        `--datadir=${templateDir}`,
        `--tmpdir=${tmp}`,
        '--skip-test-db',
        '--skip-name-resolve',
        ...userArgs(),
        ...tuningArgs(bin.flavor),
      ],
      logFile,
    );
  } else {
    // MySQL creates only root@localhost; with --skip-name-resolve a TCP client
    // from 127.0.0.1 would not match it, so add root@127.0.0.1 (empty password).
    const initFile = join(workDir, 'init.sql');
    await writeFile(
      initFile,
      "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';\n" +
        "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n",
    );
    // --initialize wants a missing or empty datadir.
    await runToCompletion(
      bin.server,
      [
        '--no-defaults',
        '--initialize-insecure',
        `--datadir=${templateDir}`,
        `--tmpdir=${tmp}`,
        `--init-file=${initFile}`,
        ...userArgs(),
        ...tuningArgs(bin.flavor),
      ],
      logFile,
    );
  }
  await rm(tmp, { recursive: true, force: true });
}

/** Reads the pid in a pid file, or undefined when missing or garbled. */
function readPid(pidFile: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when `pid` is a live (non-zombie) process. A killed server lingers as a
 * zombie until its parent reaps it, so `kill -0` would say "alive".
 */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Format: "pid (comm) state ..."; comm may contain spaces or parentheses.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X' && state !== '';
  } catch {
    if (existsSync('/proc/self/stat')) return false; // /proc exists, the pid does not
    // No procfs (macOS): fall back to a signal probe.
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

/** True when `pid` is a server running on `spec`'s data dir (guards against pid reuse). */
function isServerOf(pid: number, spec: ServerSpec): boolean {
  if (!isAlive(pid)) return false;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(`--datadir=${spec.dataDir}`);
  } catch {
    // No procfs: trust the pid file.
    return existsSync('/proc/self/stat') ? false : true;
  }
}

function serverPidOf(spec: ServerSpec): number | undefined {
  const fromFile = readPid(spec.pidFile);
  if (fromFile !== undefined && isServerOf(fromFile, spec)) return fromFile;
  // The server writes its pid file a little after it starts; in the starting process we know the child.
  const fromChild = startedChildren.get(spec.dataDir);
  if (fromChild !== undefined && isServerOf(fromChild, spec)) return fromChild;
  return undefined;
}

/** Children started by this process, by data dir (only a fallback for a missing pid file). */
const startedChildren = new Map<string, number>();

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

function normalizeDir(dir: string): string {
  return dir.replace(/\/+$/, '');
}

/**
 * True when the server on `spec.port` accepts root and IS this spec's server:
 * if our server failed to bind, another throwaway server may own the port.
 */
async function acceptsConnections(spec: ServerSpec): Promise<boolean> {
  try {
    const connection = await mysql.createConnection({
      host: spec.host,
      port: spec.port,
      user: 'root',
      password: '',
      connectTimeout: 2_000,
    });
    try {
      const [rows] = await connection.query<mysql.RowDataPacket[]>('SELECT @@datadir AS datadir');
      const datadir = normalizeDir(String(rows[0]?.['datadir'] ?? ''));
      const expected = normalizeDir(spec.dataDir);
      return datadir === expected || datadir === normalizeDir(realpathSync(expected));
    } finally {
      await connection.end();
    }
  } catch {
    return false;
  }
}

async function logTail(spec: ServerSpec): Promise<string> {
  try {
    return tail(await readFile(spec.logFile, 'utf8'), 15);
  } catch {
    return '(no error log written)';
  }
}

/**
 * (Re)starts one server on its own data dir and port. Resolves once it
 * accepts TCP connections as root with an empty password. Removes a stale pid
 * file first; if the server of this spec is already running, only waits for it.
 * The child is detached and unref'd, so it survives the process that started
 * it (stop it with {@link stopServer}).
 *
 * @throws Error quoting the server's error log when it exits or is not ready within 60 s.
 */
export async function startServer(spec: ServerSpec): Promise<void> {
  const running = serverPidOf(spec);
  if (running === undefined) {
    await rm(spec.pidFile, { force: true });
    await mkdir(spec.tmpDir, { recursive: true });
    const flavor = detectFlavorCached();
    const args = [
      '--no-defaults',
      ...userArgs(),
      `--datadir=${spec.dataDir}`,
      `--port=${spec.port}`,
      `--bind-address=${spec.host}`,
      `--socket=${spec.socket}`,
      `--pid-file=${spec.pidFile}`,
      `--tmpdir=${spec.tmpDir}`,
      `--log-error=${spec.logFile}`,
      '--skip-name-resolve',
      '--max-connections=500',
      ...tuningArgs(flavor),
    ];
    const child = spawn(findServerBinaryCached().server, args, { detached: true, stdio: 'ignore' });
    let exited: string | undefined;
    child.once('exit', (code, signal) => {
      exited = signal !== null ? `killed by ${signal}` : `exit code ${String(code)}`;
      if (child.pid !== undefined && startedChildren.get(spec.dataDir) === child.pid) startedChildren.delete(spec.dataDir);
    });
    child.once('error', (error) => {
      exited = `could not be spawned: ${error.message}`;
    });
    child.unref();
    if (child.pid !== undefined) startedChildren.set(spec.dataDir, child.pid);
    await waitUntilReady(spec, () => exited);
    return;
  }
  await waitUntilReady(spec, () => (isServerOf(running, spec) ? undefined : 'exited'));
}

async function waitUntilReady(spec: ServerSpec, exitReason: () => string | undefined): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (await acceptsConnections(spec)) return;
    const reason = exitReason();
    if (reason !== undefined) {
      throw new Error(
        `Server ${spec.name} (port ${spec.port}, data ${spec.dataDir}) stopped during start-up (${reason}). ` +
          `Last lines of ${spec.logFile}:\n${await logTail(spec)}`,
      );
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Server ${spec.name} did not accept connections on 127.0.0.1:${spec.port} within ${START_TIMEOUT_MS / 1000}s. ` +
          `Last lines of ${spec.logFile}:\n${await logTail(spec)}`,
      );
    }
    await sleep(POLL_MS);
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(POLL_MS);
  }
  return !isAlive(pid);
}

/**
 * Stops one server: SIGTERM through its pid file, waits until the process is
 * really gone (a zombie counts as gone), SIGKILL after about 10 s. Resolves at
 * once when the server is not running. Never signals a process whose command
 * line is not this spec's server.
 */
export async function stopServer(spec: ServerSpec): Promise<void> {
  const pid = serverPidOf(spec);
  if (pid !== undefined) {
    signal(pid, 'SIGTERM');
    if (!(await waitGone(pid, STOP_GRACE_MS))) {
      signal(pid, 'SIGKILL');
      if (!(await waitGone(pid, 5_000))) {
        throw new Error(`Server ${spec.name} (pid ${pid}) survived SIGKILL; stop it by hand: kill -9 ${pid}`);
      }
    }
  }
  // After SIGKILL (or a crash) these are stale; the next start must not trust them.
  await rm(spec.pidFile, { force: true });
  await rm(spec.socket, { force: true });
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

let cachedBinaries: ServerBinaries | undefined;
function findServerBinaryCached(): ServerBinaries {
  cachedBinaries ??= findServerBinary();
  return cachedBinaries;
}
function detectFlavorCached(): ServerFlavor {
  return findServerBinaryCached().flavor;
}

/** Copies a data folder; the system `cp` is several times faster than fs.cp on tmpfs. */
async function copyDir(from: string, to: string): Promise<void> {
  try {
    await runToCompletion('cp', ['-R', from, to], join(to, '..', 'copy.log'));
  } catch {
    await rm(to, { recursive: true, force: true });
    await cp(from, to, { recursive: true });
  }
}

function isPortClash(error: unknown): boolean {
  const text = error instanceof Error ? error.message : String(error);
  return /Address already in use|Can't start server: Bind on TCP\/IP port/i.test(text);
}

/**
 * Starts `count` throwaway servers on free loopback ports: initialises one
 * template data folder, copies it per server, starts them in parallel.
 * Root is reachable over TCP from 127.0.0.1 with an empty password.
 *
 * @returns the server specs (in `names` order) and `stop()`, which stops every
 *   server and removes the base dir.
 * @throws Error when no server binary exists or a server fails to start (the
 *   servers already started are stopped and the data removed first).
 */
export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const names = opts.names ?? Array.from({ length: opts.count }, (_, i) => `shard_${String.fromCharCode(97 + i)}`);
  if (!Number.isInteger(opts.count) || opts.count < 1 || names.length !== opts.count) {
    throw new Error(`startCluster: count must be a positive integer matching names (count ${opts.count}, ${names.length} names)`);
  }
  if (new Set(names).size !== names.length || names.some((n) => !/^[A-Za-z0-9_-]+$/.test(n))) {
    throw new Error(`startCluster: names must be distinct and use [A-Za-z0-9_-] (got ${names.join(', ')})`);
  }
  const bin = findServerBinaryCached();
  let baseDir: string;
  if (opts.baseDir !== undefined) {
    baseDir = resolve(opts.baseDir);
    await mkdir(baseDir, { recursive: true });
  } else {
    baseDir = await mkdtemp(join(defaultRoot(names.length), 'databalancer-'));
  }

  const servers: ServerSpec[] = [];
  let stopped = false;
  const onExit = (): void => {
    // Synchronous last resort: kill what is still running and drop the data.
    for (const spec of servers) {
      const pid = serverPidOf(spec);
      if (pid !== undefined) signal(pid, 'SIGKILL');
    }
    rmSync(baseDir, { recursive: true, force: true });
  };
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', onExit);
    await Promise.all(servers.map((spec) => stopServer(spec)));
    await rm(baseDir, { recursive: true, force: true });
  };
  if (opts.cleanupOnExit !== false) process.on('exit', onExit);

  try {
    const templateDir = join(baseDir, 'template');
    await initTemplate(bin, templateDir, baseDir);
    const ports = await freePorts(names.length);
    names.forEach((name, i) => servers.push(makeSpec(name, join(baseDir, name), ports[i] ?? 0)));
    await Promise.all(
      servers.map(async (spec) => {
        await mkdir(spec.tmpDir, { recursive: true });
        await copyDir(templateDir, spec.dataDir);
        // The port could be taken between picking it and the server binding it; retry with a new one.
        for (let attempt = 1; ; attempt++) {
          try {
            await startServer(spec);
            return;
          } catch (error) {
            if (attempt >= 3 || !isPortClash(error)) throw error;
            spec.port = (await freePorts(1))[0] ?? spec.port;
          }
        }
      }),
    );
    await rm(templateDir, { recursive: true, force: true });
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
  return { servers, baseDir, stop };
}
