/**
 * Names of osquery families and columns: a query name -> a valid family name,
 * an osquery column or decoration key -> a valid column name that never
 * collides with the gateway's reserved columns or the osquery metadata
 * columns. Pure and deterministic: the same input always gives the same name,
 * on every gateway process, so nothing needs to be looked up to name a column.
 * The rules are in docs/osquery.md ("Names").
 */
import { createHash } from 'node:crypto';
import { AppError } from '../errors/app-error.js';
import { columnNameKey, ID_COLUMN, INGESTED_AT_COLUMN, INTERNAL_PREFIX, MAX_IDENTIFIER_CHARS, RAW_LOGS_TABLE } from './identifiers.js';

/** The family every osquery status log goes to. */
export const OSQUERY_STATUS_FAMILY = 'osquery_status';

/** Metadata columns of every osquery result family (from the record, not the row). */
export const OSQUERY_METADATA_COLUMNS = Object.freeze({
  hostIdentifier: 'host_identifier',
  calendarTime: 'calendar_time',
  action: 'action',
  epoch: 'epoch',
  counter: 'counter',
} as const);

/** Columns of the status family besides host_identifier, calendar_time and decorations. */
export const OSQUERY_STATUS_COLUMNS = Object.freeze(['severity', 'filename', 'line', 'message', 'version'] as const);

/** Decoration `key` is stored in column `decorations_<key>`. */
export const DECORATION_PREFIX = 'decorations_';

/** An osquery column whose name is taken is stored as `osquery_<name>`. */
export const RENAME_PREFIX = 'osquery_';

/** Length of the hash suffix (hex digits of SHA-256) that shortened or disambiguated names end with. */
export const HASH_SUFFIX_CHARS = 8;

/**
 * Names (compared with columnNameKey) an osquery column may not keep: the
 * gateway's own columns, the metadata columns, and names the MySQL driver
 * cannot return as result columns (kept in step with identifiers.ts).
 */
const TAKEN_COLUMN_KEYS: ReadonlySet<string> = new Set(
  [
    ID_COLUMN,
    INGESTED_AT_COLUMN,
    ...Object.values(OSQUERY_METADATA_COLUMNS),
    '__proto__',
    '__definegetter__',
    '__definesetter__',
    '__lookupgetter__',
    '__lookupsetter__',
  ].map(columnNameKey),
);

const SEQUENCE_TABLE_PATTERN = /^seq_\d+_to_\d+(?:_step_\d+)?$/i;

/** The first {@link HASH_SUFFIX_CHARS} hex digits of SHA-256 of `text` (UTF-8). */
export function shortHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, HASH_SUFFIX_CHARS);
}

/** `name` cut to fit 64 characters with `_<hash of original>` at the end. */
function withHash(name: string, original: string): string {
  const keep = MAX_IDENTIFIER_CHARS - HASH_SUFFIX_CHARS - 1;
  return `${Array.from(name).slice(0, keep).join('')}_${shortHash(original)}`;
}

/** Options of {@link osqueryFamilyName}. */
export interface OsqueryFamilyNameOptions {
  /**
   * Always end with `_<hash>`: for a name whose plain mapping already
   * belongs to another original name (e.g. `a-b` when `a.b` made `a_b`).
   */
  hashed?: boolean;
}

/**
 * The family of an osquery query name. Rules, in order:
 * 1. every character outside `[A-Za-z0-9_]` becomes `_`
 *    (`pack_incident-response_processes` -> `pack_incident_response_processes`);
 * 2. a name the gateway reserves (`raw_logs`, `databalancer_...`,
 *    `seq_<n>_to_<m>`, any case) gets the prefix `osquery_`;
 * 3. longer than 64 characters, `osquery_status` (the status family, any
 *    case), or `opts.hashed`: the first 55 characters, `_`, and 8 hex digits
 *    of SHA-256 of the original name.
 * Different names can map to the same family in step 1 (`a-b`, `a.b`);
 * callers that record original -> family can use `hashed` to tell them apart.
 *
 * @throws AppError INVALID_FAMILY_NAME when `name` is not a non-empty string.
 * @example osqueryFamilyName('pack_incident-response_processes') // => 'pack_incident_response_processes'
 * @example osqueryFamilyName('raw_logs') // => 'osquery_raw_logs'
 */
export function osqueryFamilyName(name: string, opts: OsqueryFamilyNameOptions = {}): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new AppError(
      'INVALID_FAMILY_NAME',
      'an osquery result needs a non-empty "name" (the scheduled query name, e.g. "pack_incident-response_processes")',
      { name: typeof name === 'string' ? name : null },
    );
  }
  let family = Array.from(name, (c) => (/^[A-Za-z0-9_]$/.test(c) ? c : '_')).join('');
  const lower = family.toLowerCase();
  if (lower === RAW_LOGS_TABLE || lower.startsWith(INTERNAL_PREFIX) || SEQUENCE_TABLE_PATTERN.test(family)) {
    family = `${RENAME_PREFIX}${family}`;
  }
  if (opts.hashed === true || family.length > MAX_IDENTIFIER_CHARS || family.toLowerCase() === OSQUERY_STATUS_FAMILY) {
    family = withHash(family, name);
  }
  return family;
}

/** NUL, lone surrogates and non-BMP characters -> `_`; trailing whitespace -> `_` each; empty -> `_`. */
function sanitizeColumnText(name: string): string {
  let text = Array.from(name, (c) => (c === '\u0000' || c.length > 1 || /[\uD800-\uDFFF]/.test(c) ? '_' : c)).join('');
  const trailing = /[ \t\n\v\f\r]+$/.exec(text);
  if (trailing !== null) text = text.slice(0, trailing.index) + '_'.repeat(trailing[0].length);
  return text.length === 0 ? '_' : text;
}

function fitLength(name: string, original: string): string {
  return Array.from(name).length > MAX_IDENTIFIER_CHARS ? withHash(name, original) : name;
}

/**
 * The column of an osquery result column. Rules, in order:
 * 1. NUL, emoji and other non-BMP characters -> `_`; trailing spaces, tabs
 *    and line breaks -> `_`; an empty name -> `_`;
 * 2. a taken name gets the prefix `osquery_`: `id`, `_ingested_at`, the
 *    metadata columns (`host_identifier`, `calendar_time`, `action`, `epoch`,
 *    `counter`), `__proto__` and its kin (all compared ignoring case and
 *    accents), and every name starting with `osquery_` or `decorations_`
 *    (so `id` -> `osquery_id`, `osquery_id` -> `osquery_osquery_id`, and a
 *    renamed column never meets an unrenamed one);
 * 3. longer than 64 characters: the first 55, `_`, 8 hex digits of SHA-256
 *    of the original name.
 *
 * @example osqueryColumnName('pid') // => 'pid'
 * @example osqueryColumnName('id') // => 'osquery_id'
 * @example osqueryColumnName('Action') // => 'osquery_Action'
 */
export function osqueryColumnName(name: string): string {
  let column = sanitizeColumnText(name);
  const key = columnNameKey(column);
  if (TAKEN_COLUMN_KEYS.has(key) || key.startsWith(RENAME_PREFIX) || key.startsWith(DECORATION_PREFIX)) {
    column = `${RENAME_PREFIX}${column}`;
  }
  return fitLength(column, name);
}

/**
 * The column of decoration `key`: `decorations_<key>`, with the character
 * rules of {@link osqueryColumnName} (step 1) and its hash shortening past
 * 64 characters.
 *
 * @example osqueryDecorationColumn('hostname') // => 'decorations_hostname'
 */
export function osqueryDecorationColumn(key: string): string {
  return fitLength(`${DECORATION_PREFIX}${sanitizeColumnText(key)}`, `${DECORATION_PREFIX}${key}`);
}
