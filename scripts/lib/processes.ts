/**
 * Process and port helpers for `npm run playground` (Linux /proc first,
 * `ss -ltnp` as a fallback): who listens on a TCP port, whether a pid is
 * still the process that was recorded (its command line, against pid reuse),
 * and stopping one by pid with SIGTERM, then SIGKILL.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';

/** A process as recorded in a pid file: its pid and its command line (argv). */
export interface RecordedProcess {
  pid: number;
  argv: string[];
}

/**
 * True while `pid` exists and is not a zombie. A process being killed loses
 * its command line before it closes its files (sockets included), so waiting
 * for this, not for the command line to vanish, is waiting until its port is free.
 */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X' && state !== '';
  } catch {
    return false;
  }
}

/** The command line of `pid` as argv, or undefined when it is gone, a zombie, or unreadable. */
export function commandLineOf(pid: number): string[] | undefined {
  try {
    if (!isAlive(pid)) return undefined;
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (raw === '') return undefined;
    return raw.replace(/\0$/, '').split('\0');
  } catch {
    return undefined;
  }
}

/** True when `recorded.pid` is alive and still runs exactly the recorded command line. */
export function isStillRunning(recorded: RecordedProcess): boolean {
  const argv = commandLineOf(recorded.pid);
  return argv !== undefined && argv.length === recorded.argv.length && argv.every((arg, i) => arg === recorded.argv[i]);
}

/** `pid`'s command line as one line for messages, at most `max` characters. */
export function describeProcess(pid: number, max = 120): string {
  const argv = commandLineOf(pid);
  if (argv === undefined) return `pid ${pid}`;
  const line = argv.join(' ');
  return `pid ${pid} (${line.length > max ? `${line.slice(0, max - 3)}...` : line})`;
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/**
 * Stops a recorded process if it still is what was recorded: SIGTERM, then
 * SIGKILL after `graceMs`. Returns whether a process was signalled.
 */
export async function stopRecorded(recorded: RecordedProcess, graceMs = 10_000): Promise<boolean> {
  if (!isStillRunning(recorded)) return false;
  const send = (signal: NodeJS.Signals): void => {
    try {
      process.kill(recorded.pid, signal);
    } catch {
      // already gone
    }
  };
  // From here on the pid is known to be that process: wait for the pid itself to go.
  send('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(recorded.pid)) return true;
    await sleep(50);
  }
  send('SIGKILL');
  const killDeadline = Date.now() + 5_000;
  while (isAlive(recorded.pid) && Date.now() < killDeadline) await sleep(50);
  return true;
}

/** Socket inodes of TCP sockets in LISTEN state on `port`, from /proc/net/tcp and tcp6. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const local = cols[1];
      if (local === undefined || cols[3] !== '0A' || cols[9] === undefined) continue;
      if (local.slice(local.lastIndexOf(':') + 1) === hexPort) inodes.add(cols[9]);
    }
  }
  return inodes;
}

/**
 * Pids of the processes listening on TCP `port` (any address): sockets from
 * /proc/net/tcp{,6} matched against every /proc/<pid>/fd, else `ss -ltnp`.
 * Empty when nothing is found or the holder is not visible to this user.
 */
export function listenersOf(port: number): number[] {
  const inodes = listeningInodes(port);
  const pids = new Set<number>();
  if (inodes.size > 0) {
    let entries: string[] = [];
    try {
      entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
    } catch {
      // no procfs
    }
    for (const name of entries) {
      let fds: string[];
      try {
        fds = readdirSync(`/proc/${name}/fd`);
      } catch {
        continue; // gone, or not ours to read
      }
      for (const fd of fds) {
        try {
          const target = readlinkSync(`/proc/${name}/fd/${fd}`);
          if (target.startsWith('socket:[') && inodes.has(target.slice(8, -1))) {
            pids.add(Number(name));
            break;
          }
        } catch {
          // closed meanwhile
        }
      }
    }
  }
  if (pids.size === 0) {
    try {
      const out = execFileSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8', timeout: 5_000, stdio: ['ignore', 'pipe', 'ignore'] });
      for (const match of out.matchAll(/pid=(\d+)/g)) pids.add(Number(match[1]));
    } catch {
      // no ss
    }
  }
  return [...pids].sort((a, b) => a - b);
}

/**
 * Resolves undefined when TCP `port` can be bound on `host`, else the error
 * code (EADDRINUSE, EACCES, ...). Binds and closes a probe socket at once.
 */
export function probePort(host: string, port: number): Promise<string | undefined> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => done(undefined)));
  });
}
