/**
 * The columns of an osquery family and their types, decided without a
 * declared schema: from osquery's own table specs (osquery-spec-data.ts,
 * generated), matched against the row's column set. Pure.
 *
 * The rule (docs/osquery.md, "Types"): a column is typed by the spec only
 * when the spec says what it is; every other column is a string. A string
 * column takes any later value, and a typed column takes every value osquery
 * can send for it (osqueryCell in osquery-types.ts stores a value that does
 * not fit as NULL, never an error), so no decision made for one line turns a
 * later normal line into an error.
 */
import { OSQUERY_METADATA_COLUMNS, OSQUERY_STATUS_COLUMNS, osqueryColumnName, osqueryDecorationColumn } from './osquery-names.js';
import { OSQUERY_SPEC_TABLES, type OsquerySpecColumnType, type OsquerySpecTable } from './osquery-spec-data.js';
import type { OsqueryFieldType } from './osquery-types.js';

export { OSQUERY_SPEC_SOURCE, OSQUERY_SPEC_TABLES } from './osquery-spec-data.js';
export type { OsquerySpecColumnType, OsquerySpecTable } from './osquery-spec-data.js';

/** Spec data: table name -> table (the generated OSQUERY_SPEC_TABLES, or a test's). */
export type OsquerySpecs = Readonly<Record<string, OsquerySpecTable>>;

/** One column of an osquery family. */
export interface OsqueryField {
  /** The column name (after the renaming rules). */
  name: string;
  type: OsqueryFieldType;
  /** Where the value comes from. */
  origin: 'metadata' | 'column' | 'decoration';
  /** The osquery column or decoration key it holds (null for metadata). */
  source: string | null;
}

/** Result of {@link decideOsqueryColumns}. */
export interface OsqueryColumnDecision {
  /** The spec table the row was matched to, or null (none, or several without a name hint). */
  table: string | null;
  /** Every spec table whose columns include all of the row's, sorted. */
  candidates: string[];
  /** Metadata fields, then the row's columns in the order given, then decorations. */
  fields: OsqueryField[];
}

/**
 * osquery type -> field type: INTEGER and BIGINT -> int (BIGINT is a signed
 * 64-bit `long long` in osquery), UNSIGNED_BIGINT -> uint64, DOUBLE -> float,
 * TEXT, DATE, DATETIME and BLOB -> string (DATETIME values have no one
 * format across tables).
 */
export function osqueryFieldType(type: OsquerySpecColumnType): OsqueryFieldType {
  switch (type) {
    case 'INTEGER':
    case 'BIGINT':
      return 'int';
    case 'UNSIGNED_BIGINT':
      return 'uint64';
    case 'DOUBLE':
      return 'float';
    default:
      return 'string';
  }
}

/** The metadata fields of every result family. */
export const OSQUERY_METADATA_FIELDS: readonly OsqueryField[] = Object.freeze([
  { name: OSQUERY_METADATA_COLUMNS.hostIdentifier, type: 'string', origin: 'metadata', source: null },
  { name: OSQUERY_METADATA_COLUMNS.calendarTime, type: 'timestamp', origin: 'metadata', source: null },
  { name: OSQUERY_METADATA_COLUMNS.action, type: 'string', origin: 'metadata', source: null },
  { name: OSQUERY_METADATA_COLUMNS.epoch, type: 'uint64', origin: 'metadata', source: null },
  { name: OSQUERY_METADATA_COLUMNS.counter, type: 'uint64', origin: 'metadata', source: null },
] satisfies OsqueryField[]);

const STATUS_TYPES: Readonly<Record<(typeof OSQUERY_STATUS_COLUMNS)[number], OsqueryFieldType>> = {
  severity: 'int',
  filename: 'string',
  line: 'int',
  message: 'string',
  version: 'string',
};

function decorationFields(keys: readonly string[]): OsqueryField[] {
  return keys.map((key) => ({ name: osqueryDecorationColumn(key), type: 'string', origin: 'decoration', source: key }));
}

/**
 * The fields of the status family `osquery_status`: host_identifier
 * (string), calendar_time (timestamp), severity (int: 0 INFO, 1 WARNING,
 * 2 ERROR, 3 FATAL), filename (string), line (int), message (string),
 * version (string), then `decorations_<key>` (string) per decoration.
 */
export function osqueryStatusFields(decorationKeys: readonly string[] = []): OsqueryField[] {
  return [
    { name: OSQUERY_METADATA_COLUMNS.hostIdentifier, type: 'string', origin: 'metadata', source: null },
    { name: OSQUERY_METADATA_COLUMNS.calendarTime, type: 'timestamp', origin: 'metadata', source: null },
    ...OSQUERY_STATUS_COLUMNS.map((name): OsqueryField => ({ name, type: STATUS_TYPES[name], origin: 'metadata', source: null })),
    ...decorationFields(decorationKeys),
  ];
}

/** Lower-cased column sets per spec object, built once. */
const INDEXES = new WeakMap<OsquerySpecs, Map<string, Map<string, OsquerySpecColumnType>>>();

function indexOf(specs: OsquerySpecs): Map<string, Map<string, OsquerySpecColumnType>> {
  let index = INDEXES.get(specs);
  if (index === undefined) {
    index = new Map();
    for (const [table, spec] of Object.entries(specs)) {
      const columns = new Map<string, OsquerySpecColumnType>();
      for (const [name, type] of Object.entries(spec.columns)) columns.set(name.toLowerCase(), type);
      index.set(table, columns);
    }
    INDEXES.set(specs, index);
  }
  return index;
}

/** True when table name `table` occurs in `queryName` between non-alphanumerics (`_`, `-`, `.`, ... or an end). */
function namedIn(queryName: string, table: string): boolean {
  const lower = queryName.toLowerCase();
  let at = lower.indexOf(table);
  while (at >= 0) {
    const before = at === 0 ? '' : lower[at - 1] ?? '';
    const after = lower[at + table.length] ?? '';
    if (!/[a-z0-9]/.test(before) && !/[a-z0-9]/.test(after)) return true;
    at = lower.indexOf(table, at + 1);
  }
  return false;
}

/**
 * Which spec table a row comes from. Candidates: the tables whose columns
 * (column aliases included; names compared ignoring ASCII case, as SQLite
 * does) include every column of the row. Among them, a table whose name or
 * alias appears in the query name as a whole word (`pack_x_processes` ->
 * processes; the longest such name wins, then the alphabetically first);
 * else the only candidate; else none (null).
 *
 * @example matchOsqueryTable('pack_it_processes', ['pid', 'name']).table // => 'processes'
 */
export function matchOsqueryTable(
  originalName: string,
  columnNames: readonly string[],
  specs: OsquerySpecs = OSQUERY_SPEC_TABLES,
): { table: string | null; candidates: string[] } {
  const wanted = [...new Set(columnNames.map((c) => c.toLowerCase()))];
  const candidates: string[] = [];
  if (wanted.length > 0) {
    for (const [table, columns] of indexOf(specs)) {
      if (wanted.every((c) => columns.has(c))) candidates.push(table);
    }
  }
  candidates.sort();
  let best: string | null = null;
  let bestLength = 0;
  for (const table of candidates) {
    const names = [table, ...(specs[table]?.aliases ?? [])].filter((n) => namedIn(originalName, n.toLowerCase()));
    const length = Math.max(0, ...names.map((n) => n.length));
    if (length > bestLength) {
      best = table;
      bestLength = length;
    }
  }
  if (best === null && candidates.length === 1) best = candidates[0] ?? null;
  return { table: best, candidates };
}

/**
 * Decides the fields of an osquery result family for rows with these
 * columns. Types: a matched table (see {@link matchOsqueryTable}) types the
 * columns it has; with several candidates and no name hint, a column gets a
 * type only when every candidate gives it the same one; every other column
 * (no match, expressions, aliases) is a string. Names follow
 * osqueryColumnName (`id` -> `osquery_id`, ...) and osqueryDecorationColumn.
 * Columns that appear twice (same name) are listed once.
 *
 * @example decideOsqueryColumns('pack_it_processes', ['pid', 'name']).fields.slice(5)
 *   // => [{ name: 'pid', type: 'int', origin: 'column', source: 'pid' },
 *   //     { name: 'name', type: 'string', origin: 'column', source: 'name' }]
 */
export function decideOsqueryColumns(
  originalName: string,
  columnNames: readonly string[],
  specs: OsquerySpecs = OSQUERY_SPEC_TABLES,
  opts: { decorationKeys?: readonly string[] } = {},
): OsqueryColumnDecision {
  const { table, candidates } = matchOsqueryTable(originalName, columnNames, specs);
  const index = indexOf(specs);
  const typing = table !== null ? [table] : candidates;
  const fields: OsqueryField[] = OSQUERY_METADATA_FIELDS.map((f) => ({ ...f }));
  const seen = new Set<string>();
  for (const column of columnNames) {
    if (seen.has(column)) continue;
    seen.add(column);
    const types = new Set(typing.map((t) => index.get(t)?.get(column.toLowerCase())).map((t) => (t === undefined ? 'string' : osqueryFieldType(t))));
    const type: OsqueryFieldType = types.size === 1 ? ([...types][0] as OsqueryFieldType) : 'string';
    fields.push({ name: osqueryColumnName(column), type, origin: 'column', source: column });
  }
  fields.push(...decorationFields([...new Set(opts.decorationKeys ?? [])]));
  return { table, candidates, fields };
}
