/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and lists where the gateway spent
 * its CPU: self time per function and per file/package. Pure apart from
 * reading the file.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

/** One line of the summary. */
export interface HotSpot {
  name: string;
  /** Share of the busy (non-idle) samples, 0..100. */
  selfPercent: number;
  selfMs: number;
}

/** Top functions and files/packages by self time. */
export interface ProfileSummary {
  file: string;
  totalMs: number;
  functions: HotSpot[];
  modules: HotSpot[];
}

/**
 * The main-thread profile of process `pid` in `dir` (node names them
 * CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main
 * thread, others are workers such as tsx's loader), else the largest of that
 * process, else undefined.
 */
export function mainThreadProfile(dir: string, pid: number): string | undefined {
  try {
    const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && f.split('.')[3] === String(pid));
    const main = files.find((f) => f.split('.')[4] === '0');
    if (main !== undefined) return join(dir, main);
    return files.map((f) => join(dir, f)).sort((a, b) => statSync(b).size - statSync(a).size)[0];
  } catch {
    return undefined;
  }
}

/** `node_modules/<pkg>`, `src/<path>`, `node:<internal>` or the special frame name. */
function moduleOf(url: string, functionName: string): string {
  if (url === '') return `(${functionName || 'native'})`;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm !== null) return `npm:${nm[1] ?? ''}`;
  const src = /\/(src\/.+)$/.exec(url);
  if (src !== null) return src[1] ?? url;
  if (url.startsWith('node:')) return url;
  return url.replace(/^file:\/\//, '');
}

/** Summarises a profile: the `top` hottest functions and modules by self time. */
export function summarizeProfile(file: string, top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const hits = new Map<number, number>();
  if (profile.samples !== undefined) for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  const hitsOf = (node: ProfileNode): number => hits.get(node.id) ?? node.hitCount ?? 0;
  // Percentages are of busy samples: idle time (waiting for I/O) is left out.
  const totalHits = profile.nodes.filter((n) => n.callFrame.functionName !== '(idle)').reduce((a, n) => a + hitsOf(n), 0);
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  for (const node of profile.nodes) {
    const count = hitsOf(node);
    if (count === 0 || node.callFrame.functionName === '(idle)') continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const mod = moduleOf(url, functionName);
    const fn = `${functionName || '(anonymous)'} ${url === '' ? '' : `${mod}:${lineNumber + 1}`}`.trim();
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + count);
    byModule.set(mod, (byModule.get(mod) ?? 0) + count);
  }
  const rank = (map: Map<string, number>): HotSpot[] =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, count]) => ({ name, selfPercent: (100 * count) / Math.max(1, totalHits), selfMs: (totalMs * count) / Math.max(1, totalHits) }));
  return { file, totalMs, functions: rank(byFunction), modules: rank(byModule) };
}

/** Markdown lists of a summary. */
export function renderProfile(summary: ProfileSummary): string {
  const lines = [`CPU profile ${summary.file} (${(summary.totalMs / 1000).toFixed(1)} s)`, '', 'Top functions by self time (% of busy samples; start-up included):'];
  for (const h of summary.functions) lines.push(`  ${h.selfPercent.toFixed(1).padStart(5)}%  ${h.name}`);
  lines.push('', 'Top files/packages by self time:');
  for (const h of summary.modules) lines.push(`  ${h.selfPercent.toFixed(1).padStart(5)}%  ${h.name}`);
  return lines.join('\n');
}
