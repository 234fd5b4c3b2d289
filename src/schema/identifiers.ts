/**
 * Naming rules and quoting for every SQL identifier the gateway emits: family
 * (table) names, field (column) names and internal names. Pure: validates and
 * escapes, never builds statements. Every identifier, user-given or not, goes
 * through here before it reaches SQL text.
 */
import { AppError } from '../errors/app-error.js';

/** The table on every shard holding the lossless JSON copy of each event. */
export const RAW_LOGS_TABLE = 'raw_logs';

/** Catalog and other internal tables start with this; family names may not (any case). */
export const INTERNAL_PREFIX = 'databalancer_';

/** The auto-increment primary key of every family table. */
export const ID_COLUMN = 'id';

/** Internal ingestion time used by retention; INVISIBLE where the server supports it. */
export const INGESTED_AT_COLUMN = '_ingested_at';

/** The event's own JSON text in its family row (INVISIBLE); raw_logs is a view over it (docs/design.md). */
export const RAW_COLUMN = '_raw';

/** The raw_logs table of shards bootstrapped by older gateways, renamed and kept as one branch of the raw_logs view. */
export const LEGACY_RAW_LOGS_TABLE = 'databalancer_raw_logs_legacy';

/** Field names a schema may not declare (compared with {@link columnNameKey}). */
export const RESERVED_FIELD_NAMES: readonly string[] = Object.freeze([ID_COLUMN, INGESTED_AT_COLUMN, RAW_COLUMN]);

/** MySQL's identifier length limit, in characters. */
export const MAX_IDENTIFIER_CHARS = 64;

const FAMILY_NAME_PATTERN = /^[A-Za-z0-9_]{1,64}$/;

/**
 * Names MariaDB's Sequence engine answers without any table existing
 * (`seq_1_to_1000`, `seq_0_to_10_step_2`): a family so named would read the
 * engine's rows. Case-insensitive, as a server with lower_case_table_names
 * would resolve them.
 */
const SEQUENCE_TABLE_PATTERN = /^seq_\d+_to_\d+(?:_step_\d+)?$/i;

/**
 * Field names mysql2 refuses as result column names (its helpers'
 * privateObjectProps): a query reading such a column would fail inside the
 * driver. Compared with {@link columnNameKey}, since a query may name the
 * column in another case and results carry the name as the query wrote it.
 */
const DRIVER_RESERVED_FIELD_NAMES: readonly string[] = Object.freeze([
  '__proto__',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
]);
const DRIVER_RESERVED_KEYS = new Set(DRIVER_RESERVED_FIELD_NAMES.map((name) => name.toLowerCase()));

/** Characters MySQL treats as trailing spaces in names (ER_WRONG_COLUMN_NAME, checked on MariaDB 10.11). */
const TRAILING_SPACE_PATTERN = /[ \t\n\v\f\r]$/;

/** Shortens a value for messages and details so a huge input is not echoed back whole. */
function preview(value: string, max = 100): string {
  const chars = Array.from(value);
  return chars.length <= max ? value : `${chars.slice(0, max).join('')}...`;
}

/**
 * Validates a family name and returns it unchanged.
 *
 * Rules: a string of 1-64 characters from `[A-Za-z0-9_]` (so it is a safe
 * table name on every platform and needs no escaping), not `raw_logs` in any
 * case, and not starting with `databalancer_` in any case (reserved for the
 * catalog), and not a name MariaDB's Sequence engine resolves by itself
 * (`seq_<n>_to_<m>`, `seq_<n>_to_<m>_step_<k>`, any case). Case is kept: on
 * Linux servers (`lower_case_table_names=0`) table names are case-sensitive.
 * (Other names the server resolves without a base table, such as a view,
 * are refused by the shard manager once it sees the table.)
 *
 * @throws AppError INVALID_FAMILY_NAME, details `{ family }` (the received value, shortened).
 * @example validateFamilyName('dog_registry') // => 'dog_registry'
 * @example validateFamilyName('RAW_LOGS') // throws INVALID_FAMILY_NAME
 */
export function validateFamilyName(name: unknown): string {
  if (typeof name !== 'string') {
    throw new AppError(
      'INVALID_FAMILY_NAME',
      `"family" must be a string of 1-64 letters, digits or underscores, received ${name === null ? 'null' : typeof name}`,
      { family: name === undefined ? null : typeof name === 'object' ? null : name },
    );
  }
  if (!FAMILY_NAME_PATTERN.test(name)) {
    const shown = preview(name);
    throw new AppError(
      'INVALID_FAMILY_NAME',
      `family name "${shown}" is invalid: use 1-64 characters, each a letter A-Z/a-z, a digit or an underscore (for example "dog_registry")`,
      { family: shown },
    );
  }
  const lower = name.toLowerCase();
  if (lower === RAW_LOGS_TABLE) {
    throw new AppError(
      'INVALID_FAMILY_NAME',
      `family name "${name}" is reserved: "${RAW_LOGS_TABLE}" holds the raw copy of every event; choose another name`,
      { family: name },
    );
  }
  if (lower.startsWith(INTERNAL_PREFIX)) {
    throw new AppError(
      'INVALID_FAMILY_NAME',
      `family name "${name}" is reserved: names starting with "${INTERNAL_PREFIX}" (any case) belong to the gateway's internal tables; choose another name`,
      { family: name },
    );
  }
  if (SEQUENCE_TABLE_PATTERN.test(name)) {
    throw new AppError(
      'INVALID_FAMILY_NAME',
      `family name "${name}" is reserved: MariaDB's Sequence engine answers names like seq_1_to_1000 and seq_0_to_10_step_2 (any case) with generated rows, not a table; choose another name`,
      { family: name },
    );
  }
  return name;
}

/**
 * The key under which MySQL/MariaDB consider two column names the same,
 * approximated conservatively so that every pair the server would call a
 * duplicate also gets the same key here (a few pairs the server would accept,
 * such as `e` and `é`, collide here too; that is a 400, never a failed DDL).
 *
 * Rule: Unicode NFKD, drop combining marks, lower-case (`toLowerCase`), and
 * fold `ß` to `s`. So `Name`/`NAME`, `K` (Kelvin sign)/`k`, `İ`/`i` and
 * `é`/`e`/`e\u0301` share a key. Why so broad: MariaDB folds case with Unicode
 * tables (Kelvin sign = k, checked on 10.11) and MySQL compares column names
 * with utf8mb3_general_ci, whose weights also ignore accents.
 *
 * @example columnNameKey('Éclair') // => 'eclair'
 */
export function columnNameKey(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/ß/g, 's');
}

/** True when `name` is `id` or an internal column name, compared with {@link columnNameKey}. */
export function isReservedFieldName(name: string): boolean {
  const key = columnNameKey(name);
  return RESERVED_FIELD_NAMES.some((reserved) => columnNameKey(reserved) === key);
}

/**
 * Validates a field (column) name and returns it unchanged.
 *
 * Rules: 1-64 Unicode code points (MySQL counts characters); no NUL; no
 * trailing space, tab or line break (the server rejects those); not only
 * spaces; only Basic Multilingual Plane characters (identifiers are utf8mb3,
 * so emoji and other supplementary characters, and lone surrogates, cannot be
 * stored); not reserved (`id`, `_ingested_at`, compared with
 * {@link columnNameKey}); not one of `__proto__`, `__defineGetter__`,
 * `__defineSetter__`, `__lookupGetter__`, `__lookupSetter__` (any case),
 * which the MySQL driver cannot return as result columns (`constructor`,
 * `prototype` and the like are fine). Anything else (quotes, backticks, dots, semicolons)
 * is allowed because every identifier is quoted with {@link quoteIdentifier}.
 *
 * @throws AppError INVALID_FIELD_NAME, details `{ field }` (shortened).
 * @example validateFieldName('weight (kg)') // => 'weight (kg)'
 * @example validateFieldName('ID') // throws INVALID_FIELD_NAME (reserved)
 */
export function validateFieldName(name: string): string {
  if (typeof name !== 'string') {
    throw new AppError('INVALID_FIELD_NAME', `a field name must be a string, received ${typeof name}`, {
      field: null,
    });
  }
  const shown = preview(name);
  const fail = (why: string): AppError =>
    new AppError('INVALID_FIELD_NAME', `field name "${shown}" is invalid: ${why}`, { field: shown });
  if (name.length === 0) {
    throw new AppError('INVALID_FIELD_NAME', 'a field name is empty: give every field a name of 1-64 characters', {
      field: name,
    });
  }
  if (name.includes('\u0000')) throw fail('it contains a NUL character (\\u0000); remove it');
  if (/[\uD800-\uDFFF]/.test(name)) {
    throw fail(
      'it contains a character outside the Basic Multilingual Plane (such as an emoji) or a lone surrogate, which MySQL identifiers cannot hold; use other characters',
    );
  }
  const length = Array.from(name).length;
  if (length > MAX_IDENTIFIER_CHARS) {
    throw fail(`it has ${length} characters and MySQL allows at most ${MAX_IDENTIFIER_CHARS}; shorten it`);
  }
  if (/^[ \t\n\v\f\r]+$/.test(name)) throw fail('it is only spaces; give the field a visible name');
  if (TRAILING_SPACE_PATTERN.test(name)) {
    throw fail('it ends with a space, tab or line break, which MySQL does not allow in column names; remove it');
  }
  if (DRIVER_RESERVED_KEYS.has(columnNameKey(name))) {
    throw fail(
      `"${name}" is reserved: the MySQL driver cannot read a result column named ${DRIVER_RESERVED_FIELD_NAMES.join(', ')} (any case), so no query could read the field back; rename it, e.g. "${name.replace(/^_+|_+$/g, '')}"`,
    );
  }
  if (isReservedFieldName(name)) {
    throw fail(
      `"${name}" is reserved: "${ID_COLUMN}" is every family's auto-increment key and "${INGESTED_AT_COLUMN}" is the internal ingestion time (names are compared case-insensitively); rename the field, e.g. "${name}_value"`,
    );
  }
  return name;
}

/**
 * Quotes an identifier for MySQL/MariaDB: wraps it in backticks and doubles
 * every backtick inside, so any text becomes exactly one identifier. Use it
 * for every identifier spliced into SQL text.
 *
 * @throws AppError BAD_USER_INPUT when the name is empty or contains NUL (MySQL identifiers cannot).
 * @example quoteIdentifier('a`b') // => '`a``b`'
 * @example quoteIdentifier('dogs') // => '`dogs`'
 */
export function quoteIdentifier(name: string): string {
  if (name.length === 0 || name.includes('\u0000')) {
    throw new AppError(
      'BAD_USER_INPUT',
      'an SQL identifier must be non-empty and must not contain a NUL character; rename it',
      { identifier: preview(name.replace(/\u0000/g, '\\0')) },
    );
  }
  return `\`${name.replace(/`/g, '``')}\``;
}
