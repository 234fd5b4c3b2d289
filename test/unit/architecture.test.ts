/**
 * The import direction of src/ (docs/architecture.md): http -> services ->
 * (ingest | query) -> shards -> schema -> errors/logging/config, with no
 * arrow backwards, ingest and query independent of each other, transports
 * never reaching below services, and no import cycle between files.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../../src');

/** Rank of each top-level part: a file may import only its own part or lower ranks. */
const RANK: Readonly<Record<string, number>> = {
  errors: 0,
  logging: 1,
  config: 1,
  schema: 2,
  shards: 3,
  ingest: 4,
  query: 4,
  services: 5,
  http: 6,
  'app.ts': 7,
  'main.ts': 8,
};

/** Parts a part may not import although their rank is lower. */
const FORBIDDEN: Readonly<Record<string, readonly string[]>> = {
  ingest: ['query'],
  query: ['ingest'],
  // Transports call services; the machinery below is theirs alone.
  http: ['shards', 'ingest', 'query'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'generated' ? [] : sourceFiles(full);
    return name.endsWith('.ts') ? [full] : [];
  });
}

function partOf(file: string): string {
  return path.relative(SRC, file).split(path.sep)[0] ?? '';
}

/** Relative imports of a file (static, dynamic and type-only), resolved to .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1] ?? '');
  return specs.map((spec) => path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts'));
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((file) => [file, importsOf(file).filter((target) => target.startsWith(SRC))]));

describe('src/ import direction', () => {
  it('knows every top-level part', () => {
    expect(new Set(files.map(partOf)).size).toBeGreaterThan(8);
    for (const file of files) expect(RANK[partOf(file)], path.relative(SRC, file)).toBeTypeOf('number');
  });

  it('imports only downwards (or within the same part), never sideways into a forbidden part', () => {
    const backwards: string[] = [];
    for (const [file, targets] of graph) {
      const from = partOf(file);
      for (const target of targets) {
        const to = partOf(target);
        if (to === from) continue;
        const upward = (RANK[to] ?? 99) >= (RANK[from] ?? -1);
        if (upward || (FORBIDDEN[from] ?? []).includes(to)) {
          backwards.push(`${path.relative(SRC, file)} -> ${path.relative(SRC, target)}`);
        }
      }
    }
    expect(backwards).toEqual([]);
  });

  it('has no import cycle', () => {
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, trail: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...trail.slice(trail.indexOf(file)), file].map((f) => path.relative(SRC, f)).join(' -> '));
        return;
      }
      state.set(file, 'visiting');
      for (const target of graph.get(file) ?? []) visit(target, [...trail, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it('resolves every relative import to a file that exists', () => {
    const known = new Set(files);
    const missing = [...graph].flatMap(([file, targets]) =>
      targets.filter((t) => !known.has(t) && !t.includes(`${path.sep}generated${path.sep}`)).map((t) => `${path.relative(SRC, file)} -> ${t}`),
    );
    expect(missing).toEqual([]);
  });
});
