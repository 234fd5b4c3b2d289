/**
 * Generates src/schema/osquery-spec-data.ts: the type of every column of
 * every osquery table, read from osquery's own table specs
 * (`specs/**\/*.table` in the osquery/osquery repository), with the osquery
 * version and commit they came from.
 *
 * Usage:
 *   npx tsx scripts/generate-osquery-columns.ts <osquery checkout or git dir> [--version 5.x.y] [--out file]
 *
 * The source is either a checkout (a directory holding `specs/`) or a bare
 * git directory (read with `git ls-tree` / `git show` at HEAD). The version
 * is `git describe --tags` of that source unless `--version` is given.
 *
 * The .table files are Python (osquery's tools/codegen/gentable.py executes
 * them); this reads the few calls that matter without running Python:
 * `table_name("name", aliases=[...])`, `schema([...])` and
 * `extended_schema(PLATFORMS, [...])` with `Column("name", TYPE, "...",
 * aliases=[...], ...)`. `specs/example.table` (a template) is skipped.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const TYPES = new Set(['TEXT', 'DATE', 'DATETIME', 'INTEGER', 'BIGINT', 'UNSIGNED_BIGINT', 'DOUBLE', 'BLOB']);

// ---------------------------------------------------------------- tokens

type Token =
  | { kind: 'string'; value: string }
  | { kind: 'name'; value: string }
  | { kind: 'number'; value: string }
  | { kind: 'punct'; value: string };

function tokenize(text: string, file: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c) || c === '\\') {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '"' || c === "'") {
      const triple = text.startsWith(c.repeat(3), i);
      const end = triple ? c.repeat(3) : c;
      let j = i + end.length;
      let value = '';
      while (!text.startsWith(end, j)) {
        if (j >= text.length) throw new Error(`${file}: unterminated string`);
        if (text[j] === '\\') {
          const next = text[j + 1] ?? '';
          value += next === 'n' ? '\n' : next === 't' ? '\t' : next;
          j += 2;
        } else {
          value += text[j];
          j++;
        }
      }
      tokens.push({ kind: 'string', value });
      i = j + end.length;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < text.length && /[A-Za-z0-9_.]/.test(text[j] as string)) j++;
      tokens.push({ kind: 'name', value: text.slice(i, j) });
      i = j;
    } else if (/[0-9-]/.test(c)) {
      let j = i + 1;
      while (j < text.length && /[0-9.]/.test(text[j] as string)) j++;
      tokens.push({ kind: 'number', value: text.slice(i, j) });
      i = j;
    } else if ('()[]{},=:+'.includes(c)) {
      tokens.push({ kind: 'punct', value: c });
      i++;
    } else {
      throw new Error(`${file}: unexpected character ${JSON.stringify(c)}`);
    }
  }
  return tokens;
}

// ---------------------------------------------------------------- values

type Value = string | number | boolean | null | Value[] | Call | { ref: string };
interface Call {
  call: string;
  args: Value[];
  kwargs: Record<string, Value>;
}

class Parser {
  private pos = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly file: string,
  ) {}

  done(): boolean {
    return this.pos >= this.tokens.length;
  }

  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }

  private next(): Token {
    const t = this.tokens[this.pos++];
    if (t === undefined) throw new Error(`${this.file}: unexpected end of file`);
    return t;
  }

  private isPunct(value: string): boolean {
    const t = this.peek();
    return t !== undefined && t.kind === 'punct' && t.value === value;
  }

  private expect(value: string): void {
    const t = this.next();
    if (t.kind !== 'punct' || t.value !== value) {
      throw new Error(`${this.file}: expected "${value}", found ${JSON.stringify(t.value)}`);
    }
  }

  /** One expression; `a + b` of lists (platform lists) concatenates. */
  expression(): Value {
    let value = this.primary();
    while (this.isPunct('+')) {
      this.next();
      const right = this.primary();
      const asList = (v: Value): Value[] => (Array.isArray(v) ? v : [v]);
      value = typeof value === 'string' && typeof right === 'string' ? value + right : [...asList(value), ...asList(right)];
    }
    return value;
  }

  private primary(): Value {
    const t = this.next();
    if (t.kind === 'string') {
      let value = t.value;
      while (this.peek()?.kind === 'string') value += (this.next() as { value: string }).value;
      return value;
    }
    if (t.kind === 'number') return Number(t.value);
    if (t.kind === 'name') {
      if (this.isPunct('(')) return this.callArgs(t.value);
      if (t.value === 'True') return true;
      if (t.value === 'False') return false;
      if (t.value === 'None') return null;
      return { ref: t.value };
    }
    if (t.value === '[') return this.list(']');
    if (t.value === '(') return this.list(')');
    if (t.value === '{') {
      // Dicts do not occur in specs today; read and ignore one.
      let depth = 1;
      while (depth > 0) {
        const u = this.next();
        if (u.kind === 'punct' && u.value === '{') depth++;
        if (u.kind === 'punct' && u.value === '}') depth--;
      }
      return null;
    }
    throw new Error(`${this.file}: unexpected ${JSON.stringify(t.value)}`);
  }

  private list(close: string): Value[] {
    const items: Value[] = [];
    while (!this.isPunct(close)) {
      items.push(this.expression());
      if (!this.isPunct(close)) this.expect(',');
    }
    this.expect(close);
    return items;
  }

  callArgs(name: string): Call {
    this.expect('(');
    const call: Call = { call: name, args: [], kwargs: {} };
    while (!this.isPunct(')')) {
      const t = this.peek();
      const after = this.tokens[this.pos + 1];
      if (t?.kind === 'name' && after?.kind === 'punct' && after.value === '=') {
        this.pos += 2;
        call.kwargs[t.value] = this.expression();
      } else {
        call.args.push(this.expression());
      }
      if (!this.isPunct(')')) this.expect(',');
    }
    this.expect(')');
    return call;
  }

  /** A top-level statement: a call (anything else is skipped). */
  statement(): Call | undefined {
    const t = this.next();
    if (t.kind === 'name' && this.isPunct('(')) return this.callArgs(t.value);
    return undefined;
  }
}

// ---------------------------------------------------------------- tables

interface TableSpec {
  name: string;
  aliases: string[];
  columns: Map<string, string>;
}

function isCall(value: Value, name: string): value is Call {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'call' in value && value.call === name;
}

function stringList(value: Value | undefined): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function readTable(text: string, file: string): TableSpec | undefined {
  const parser = new Parser(tokenize(text, file), file);
  let table: TableSpec | undefined;
  const addColumns = (list: Value | undefined): void => {
    if (table === undefined || !Array.isArray(list)) return;
    for (const item of list) {
      if (!isCall(item, 'Column')) continue;
      const [name, type] = item.args;
      const typeName = typeof type === 'object' && type !== null && 'ref' in type ? type.ref : undefined;
      if (typeof name !== 'string' || typeName === undefined || !TYPES.has(typeName)) {
        throw new Error(`${file}: cannot read Column(${JSON.stringify(name)}, ${JSON.stringify(type)})`);
      }
      for (const columnName of [name, ...stringList(item.kwargs['aliases'])]) {
        const previous = table.columns.get(columnName);
        if (previous !== undefined && previous !== typeName) {
          process.stderr.write(`${file}: column ${columnName} is ${previous} and ${typeName}; keeping TEXT\n`);
          table.columns.set(columnName, 'TEXT');
        } else {
          table.columns.set(columnName, typeName);
        }
      }
    }
  };
  while (!parser.done()) {
    const call = parser.statement();
    if (call === undefined) continue;
    if (call.call === 'table_name') {
      const name = call.args[0];
      if (typeof name !== 'string') throw new Error(`${file}: table_name without a name`);
      table = { name, aliases: stringList(call.kwargs['aliases'] ?? call.args[1]), columns: new Map() };
    } else if (call.call === 'schema') {
      addColumns(call.args[0]);
    } else if (call.call === 'extended_schema') {
      addColumns(call.args[1]);
    }
  }
  return table;
}

// ---------------------------------------------------------------- sources

interface Source {
  files: Array<{ path: string; text: () => string }>;
  version: string;
  commit: string | null;
}

function git(gitDir: string, args: string[]): string {
  return execFileSync('git', ['--git-dir', gitDir, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

function openSource(root: string, version: string | undefined): Source {
  const specsDir = path.join(root, 'specs');
  if (existsSync(specsDir) && statSync(specsDir).isDirectory()) {
    const walk = (dir: string): string[] =>
      readdirSync(dir).flatMap((entry) => {
        const full = path.join(dir, entry);
        return statSync(full).isDirectory() ? walk(full) : [full];
      });
    const gitDir = path.join(root, '.git');
    const hasGit = existsSync(gitDir);
    return {
      files: walk(specsDir).map((full) => ({
        path: path.relative(root, full).split(path.sep).join('/'),
        text: () => readFileSync(full, 'utf8'),
      })),
      version: version ?? (hasGit ? git(gitDir, ['describe', '--tags']).trim() : missingVersion()),
      commit: hasGit ? git(gitDir, ['rev-parse', 'HEAD']).trim() : null,
    };
  }
  if (existsSync(path.join(root, 'HEAD')) && existsSync(path.join(root, 'objects'))) {
    const listing = git(root, ['ls-tree', '-r', '--name-only', 'HEAD', 'specs']).split('\n').filter(Boolean);
    return {
      files: listing.map((file) => ({ path: file, text: () => git(root, ['show', `HEAD:${file}`]) })),
      version: version ?? git(root, ['describe', '--tags']).trim(),
      commit: git(root, ['rev-parse', 'HEAD']).trim(),
    };
  }
  throw new Error(`${root} is neither an osquery checkout (with specs/) nor a git directory`);
}

function missingVersion(): never {
  throw new Error('the source is not a git checkout: give the osquery version with --version');
}

// ---------------------------------------------------------------- output

function render(tables: TableSpec[], source: Source): string {
  const lines = tables.map((t) => {
    const columns = [...t.columns].map(([name, type]) => `${JSON.stringify(name)}: '${type}'`).join(', ');
    const aliases = t.aliases.length > 0 ? `, aliases: ${JSON.stringify(t.aliases)}` : '';
    return `  ${JSON.stringify(t.name)}: { columns: { ${columns} }${aliases} },`;
  });
  return `/**
 * GENERATED by scripts/generate-osquery-columns.ts from osquery's table specs
 * (specs/**\\/*.table); do not edit by hand. Re-run the script on a newer
 * osquery checkout to update it. Each table lists every column (those of
 * every platform's extended schema and column aliases included) with its
 * osquery type.
 */

/** The column types osquery's specs use. */
export type OsquerySpecColumnType = 'TEXT' | 'DATE' | 'DATETIME' | 'INTEGER' | 'BIGINT' | 'UNSIGNED_BIGINT' | 'DOUBLE' | 'BLOB';

/** One table of the specs. */
export interface OsquerySpecTable {
  columns: Readonly<Record<string, OsquerySpecColumnType>>;
  /** Other names of the table (\`table_name(..., aliases=[...])\`). */
  aliases?: readonly string[];
}

/** Where the data came from. */
export const OSQUERY_SPEC_SOURCE = {
  osqueryVersion: ${JSON.stringify(source.version)},
  commit: ${JSON.stringify(source.commit)},
  tables: ${tables.length},
} as const;

/** Table name -> its columns' osquery types. */
export const OSQUERY_SPEC_TABLES: Readonly<Record<string, OsquerySpecTable>> = {
${lines.join('\n')}
};
`;
}

function main(argv: string[]): void {
  let root: string | undefined;
  let version: string | undefined;
  let out = path.resolve(import.meta.dirname, '../src/schema/osquery-spec-data.ts');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--version') version = argv[++i];
    else if (arg === '--out') out = path.resolve(argv[++i] ?? '');
    else root = arg;
  }
  if (root === undefined) {
    process.stderr.write('usage: generate-osquery-columns.ts <osquery checkout or git dir> [--version 5.x.y] [--out file]\n');
    process.exit(2);
  }
  const source = openSource(path.resolve(root), version);
  const tables = new Map<string, TableSpec>();
  for (const file of source.files) {
    if (!file.path.endsWith('.table') || file.path === 'specs/example.table') continue;
    const table = readTable(file.text(), file.path);
    if (table === undefined) continue;
    const previous = tables.get(table.name);
    if (previous !== undefined) {
      // A table defined per platform (same name, several files): one union.
      for (const [name, type] of table.columns) {
        const old = previous.columns.get(name);
        previous.columns.set(name, old !== undefined && old !== type ? 'TEXT' : type);
      }
      previous.aliases = [...new Set([...previous.aliases, ...table.aliases])];
    } else {
      tables.set(table.name, table);
    }
  }
  const sorted = [...tables.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  writeFileSync(out, render(sorted, source));
  process.stdout.write(`wrote ${sorted.length} tables (osquery ${source.version}) to ${path.relative(process.cwd(), out)}\n`);
}

main(process.argv.slice(2));
