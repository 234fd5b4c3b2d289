/**
 * The machine description and the markdown table of a benchmark run.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { ScenarioResult, SideSummary } from './context.js';

/** What the figures were measured on. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  server: string;
  gatewayBuild: string;
}

/** CPU model (from /proc/cpuinfo when present), cores, memory, OS and node version. */
export function describeMachine(server: string, gatewayBuild: string): MachineInfo {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match?.[1] !== undefined) cpu = match[1].trim();
  } catch {
    // no procfs
  }
  return {
    cpu,
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    server,
    gatewayBuild,
  };
}

function fmt(value: number | undefined, unit: ScenarioResult['unit']): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  if (unit === 'ms') return `${value.toFixed(value < 10 ? 2 : 0)} ms`;
  return Math.round(value).toLocaleString('en-US');
}

function ms(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  return value < 10 ? value.toFixed(2) : value.toFixed(0);
}

/** ", CPU ms per operation: servers 1.20, load client 0.30" (the gateway's CPU is not that side's), or ''. */
function cpu(side: SideSummary): string {
  const c = side.cpuMsPerOp;
  if (c === undefined) return '';
  return `, CPU ms per operation: ${c.servers === undefined ? '' : `servers ${c.servers.toFixed(2)}, `}load client ${c.client.toFixed(2)}`;
}

function cellEscape(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** One markdown table, a row per scenario, then notes. */
export function renderTable(machine: MachineInfo, results: readonly ScenarioResult[], mode: string): string {
  const lines = [
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB RAM, ${machine.os}; node ${machine.node}; ${machine.server}; gateway build: ${machine.gatewayBuild}; mode: ${mode}`,
    '',
    '| # | scenario | unit | gateway | baseline | ratio | gateway p50 / p99 ms | baseline p50 / p99 ms | gateway peak RSS MB | target | met | vs what users compare with (target: met) |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---|---|---|',
  ];
  const notes: string[] = [];
  for (const r of results) {
    if (r.skipped !== undefined) {
      lines.push(`| ${r.id} | ${cellEscape(r.title)} | ${r.unit} | ${r.skipped} | | | | | | ${cellEscape(r.target)} | | |`);
      continue;
    }
    const rss = r.gatewayPeakRss !== undefined ? (r.gatewayPeakRss / 1048576).toFixed(0) : '-';
    const ratio = r.ratio !== undefined && Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}x` : '-';
    const met = r.met === undefined ? '' : r.met ? 'yes' : '**no**';
    const users = (r.userBaselines ?? [])
      .map((u) => `${u.name} ${u.ratio !== undefined && Number.isFinite(u.ratio) ? `${u.ratio.toFixed(2)}x` : '-'} (${u.target}: ${u.met === undefined ? '?' : u.met ? 'yes' : '**no**'})`)
      .join('; ');
    lines.push(
      `| ${r.id} | ${cellEscape(r.title)} | ${r.unit} | ${fmt(r.gateway?.value, r.unit)} | ${fmt(r.baseline?.value, r.unit)} | ${ratio} | ${ms(r.gateway?.p50)} / ${ms(r.gateway?.p99)} | ${ms(r.baseline?.p50)} / ${ms(r.baseline?.p99)} | ${rss} | ${cellEscape(r.target)} | ${met} | ${cellEscape(users)} |`,
    );
    const userNotes = (r.userBaselines ?? []).map(
      (u) =>
        `${u.name} = ${u.label}: ${fmt(u.side.value, r.unit)} ${r.unit}, p50 / p99 ${ms(u.side.p50)} / ${ms(u.side.p99)} ms${cpu(u.side)}${u.side.errors > 0 ? `, errors ${u.side.errors} (first: ${u.side.firstError ?? '?'})` : ''}; ${u.name} ratio = ${u.ratioMeaning}`,
    );
    const allNotes = [...r.notes, ...userNotes];
    notes.push(`- ${r.id}: baseline = ${r.baselineLabel}${allNotes.length > 0 ? `; ${allNotes.join('; ')}` : ''}`);
  }
  return [...lines, '', ...notes].join('\n');
}
