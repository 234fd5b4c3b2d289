/**
 * The playground's process helpers: reading a command line, telling a
 * recorded process from another one that got its pid, finding who listens on
 * a port, and stopping a recorded process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { commandLineOf, describeProcess, isStillRunning, listenersOf, probePort, stopRecorded } from '../../../scripts/lib/processes.js';

const linux = process.platform === 'linux';
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function listening(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => server.close());
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port };
}

function sleeper(): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'processes-test-sleeper'], { stdio: 'ignore' });
  cleanups.push(() => child.kill('SIGKILL'));
  return child;
}

describe.runIf(linux)('process helpers', () => {
  it('reads a command line as argv, and nothing for a pid that does not exist', () => {
    expect(commandLineOf(process.pid)).toEqual(expect.arrayContaining([process.argv[1]]));
    expect(commandLineOf(2 ** 22 + 1)).toBeUndefined();
    expect(describeProcess(process.pid)).toMatch(new RegExp(`^pid ${process.pid} \\(.+\\)$`));
  });

  it('knows a recorded process from another one holding the same pid', () => {
    const child = sleeper();
    const pid = child.pid as number;
    const argv = commandLineOf(pid);
    expect(argv).toEqual([process.execPath, '-e', 'setInterval(() => {}, 1000)', 'processes-test-sleeper']);
    expect(isStillRunning({ pid, argv: argv as string[] })).toBe(true);
    expect(isStillRunning({ pid, argv: ['/usr/sbin/mariadbd', '--datadir=/somewhere'] })).toBe(false);
  });

  it('names the process listening on a port, and says whether the port can be bound', async () => {
    const { port } = await listening();
    expect(listenersOf(port)).toContain(process.pid);
    expect(await probePort('127.0.0.1', port)).toBe('EADDRINUSE');
    expect(await probePort('0.0.0.0', port)).toBe('EADDRINUSE');
    const { server, port: other } = await listening();
    await new Promise((done) => server.close(done));
    expect(await probePort('127.0.0.1', other)).toBeUndefined();
  });

  it('stops a recorded process, and leaves alone one whose command line differs', async () => {
    const victim = sleeper();
    const bystander = sleeper();
    const exited = once(victim, 'exit');
    expect(await stopRecorded({ pid: bystander.pid as number, argv: ['something', 'else'] })).toBe(false);
    expect(await stopRecorded({ pid: victim.pid as number, argv: commandLineOf(victim.pid as number) as string[] })).toBe(true);
    await exited;
    expect(bystander.exitCode).toBeNull();
    expect(bystander.signalCode).toBeNull();
  });
});
