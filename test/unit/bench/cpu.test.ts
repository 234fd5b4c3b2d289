import { describe, expect, it } from 'vitest';
import { cpuSecondsOf, hostTicks, ownCpuSeconds, parseHostTicks, processTreeCpuSeconds, stealPercent } from '../../../bench/lib/cpu.js';
import { cpuNote, stealNote } from '../../../bench/lib/context.js';

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

  it('reads stolen time from the cpu line of /proc/stat, guest time not counted twice', () => {
    const text = 'cpu  49229 7 11824 1647127 555 0 4071 25037 300 0\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 1\n';
    expect(parseHostTicks(text)).toEqual({ steal: 25037, total: 49229 + 7 + 11824 + 1647127 + 555 + 0 + 4071 + 25037 });
    // Old kernels print fewer columns: no steal column means no steal.
    expect(parseHostTicks('cpu 10 0 5 85\n')).toEqual({ steal: 0, total: 100 });
    expect(parseHostTicks('intr 1\n')).toBeUndefined();
    expect(parseHostTicks('cpu 1 x 3 4\n')).toBeUndefined();
    expect(hostTicks()?.total).toBeGreaterThan(0);
  });

  it('gives the stolen share between two readings, and a warning note above the threshold', () => {
    expect(stealPercent({ steal: 100, total: 1000 }, { steal: 130, total: 2000 })).toBeCloseTo(3, 10);
    expect(stealPercent(undefined, { steal: 1, total: 2 })).toBeUndefined();
    expect(stealPercent({ steal: 1, total: 2 }, { steal: 1, total: 2 })).toBeUndefined();
    expect(stealNote(0.4)).toBe("host CPU stolen by other guests during the scenario: 0.4% of the machine's time");
    expect(stealNote(3)).toMatch(/3\.0% of the machine's time \(above 2%: the host was busy/);
    expect(stealNote(undefined)).toBeUndefined();
  });
});
