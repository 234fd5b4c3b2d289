import { describe, expect, it } from 'vitest';
import { cpuSecondsOf, ownCpuSeconds, processTreeCpuSeconds } from '../../../bench/lib/cpu.js';
import { cpuNote } from '../../../bench/lib/context.js';

describe('bench CPU accounting', () => {
  it('reads the CPU time of a live process from /proc and grows with work', () => {
    const before = processTreeCpuSeconds(process.pid);
    expect(before).toBeGreaterThan(0);
    const until = Date.now() + 50;
    let spin = 0;
    while (Date.now() < until) spin++;
    expect(spin).toBeGreaterThan(0);
    expect(processTreeCpuSeconds(process.pid)).toBeGreaterThanOrEqual(before ?? 0);
    expect(cpuSecondsOf([process.pid])).toBeGreaterThan(0);
    expect(ownCpuSeconds()).toBeGreaterThan(0);
  });

  it('gives undefined for a process that does not exist or an empty list', () => {
    expect(processTreeCpuSeconds(2 ** 22 + 12345)).toBeUndefined();
    expect(cpuSecondsOf([2 ** 22 + 12345])).toBeUndefined();
    expect(cpuSecondsOf([])).toBeUndefined();
  });

  it('renders per-operation CPU of both sides, leaving out what was not read', () => {
    expect(cpuNote({ gateway: 9.123, servers: 12, client: 0.4 }, { gateway: 0, servers: 11.8, client: 0.1 })).toBe(
      'CPU ms per operation: gateway side: gateway 9.12, servers 12.00, load client 0.40; baseline side: servers 11.80, load client 0.10',
    );
    expect(cpuNote({ client: 1 }, undefined)).toBe('CPU ms per operation: gateway side: load client 1.00');
    expect(cpuNote(undefined, undefined)).toBeUndefined();
  });
});
