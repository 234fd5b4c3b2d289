/**
 * The structured row filter of GraphQL's `Family.rows`: validates a filter,
 * a sort order and a page against a family's real columns and compiles them
 * to one parameterised SELECT. Pure: no I/O. Client text never becomes SQL
 * text: column names are checked against the catalog's columns and quoted
 * with ingest/identifiers.ts, operators come from a fixed table, and every
 * value is coerced to its column's type and bound as a `?` placeholder.
 */
import { AppError, badInput } from '../errors/app-error.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import { coerceValue, previewValue, ValueCoercionError, type SqlValue } from '../schema/coerce-value.js';
import type { DeclaredType } from '../schema/type-mapping.js';

/** A column a filter may name: `id` or a declared field, with its declared type. */
export interface FilterColumn {
  name: string;
  type: DeclaredType;
}

/** A WHERE (or ORDER BY) fragment and the values bound to its `?` placeholders, in order. */
export interface SqlFragment {
  sql: string;
  values: SqlValue[];
}

/** What {@link compileRowsQuery} needs. Filter, order and page are unchecked client input. */
export interface RowsQueryInput {
  /** The family (table) name, already validated. */
  table: string;
  /** The columns to select and filter on, in table order (`id` first). */
  columns: readonly FilterColumn[];
  where?: unknown;
  orderBy?: unknown;
  limit?: unknown;
  offset?: unknown;
}

/** A compiled page query. It asks for `limit + 1` rows so the caller can tell whether more rows follow. */
export interface CompiledRowsQuery {
  sql: string;
  values: SqlValue[];
  /** Column names in select order. */
  columns: string[];
  limit: number;
  offset: number;
}

/** Rows per page when `limit` is not given. */
export const DEFAULT_ROWS_LIMIT = 100;
/** Largest `limit` accepted. */
export const MAX_ROWS_LIMIT = 1000;
/** Largest `offset` accepted: deeper pages should filter on `id` (keyset) instead of scanning. */
export const MAX_ROWS_OFFSET = 100_000;
/** Most values in one `in` list. */
export const MAX_IN_VALUES = 1000;
/** Most filter nodes (each object in the filter tree counts once). */
export const MAX_FILTER_NODES = 200;
/** Deepest nesting of and/or/not. */
export const MAX_FILTER_DEPTH = 16;
/** Most sort keys. */
export const MAX_ORDER_KEYS = 16;

/** The comparison operators and their SQL. */
const COMPARISONS = {
  eq: '=',
  ne: '<>',
  lt: '<',
  lte: '<=',
  gt: '>',
  gte: '>=',
} as const;

type ComparisonOperator = keyof typeof COMPARISONS;
type Operator = ComparisonOperator | 'in' | 'like' | 'isNull';

const OPERATORS: readonly Operator[] = ['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'like', 'isNull'];
const COMBINATORS = ['and', 'or', 'not'] as const;
const NODE_KEYS: ReadonlySet<string> = new Set<string>(['field', ...OPERATORS, ...COMBINATORS]);

/** Which operators each declared type supports (json columns: only isNull). */
const ALLOWED_OPERATORS: Readonly<Record<DeclaredType, ReadonlySet<Operator>>> = {
  string: new Set<Operator>(OPERATORS),
  int: new Set<Operator>(['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'isNull']),
  float: new Set<Operator>(['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'isNull']),
  timestamp: new Set<Operator>(['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'isNull']),
  date: new Set<Operator>(['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'isNull']),
  bool: new Set<Operator>(['eq', 'ne', 'in', 'isNull']),
  json: new Set<Operator>(['isNull']),
  uint64: new Set<Operator>(['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'isNull']),
};

const TRUE_SQL = '1 = 1';
const FALSE_SQL = '1 = 0';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** GraphQL sends `null` for inputs given as null; absent and null mean the same here. */
function given(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/**
 * The placeholder for a value of `type`. Int values may arrive as decimal
 * strings (beyond 2^53); comparing a BIGINT column with a string makes MySQL
 * compare both as doubles, so they are cast back to an exact integer
 * (unsigned for uint64 columns, whose values reach 2^64-1).
 */
function placeholder(type: DeclaredType): string {
  return type === 'int' ? 'CAST(? AS SIGNED)' : type === 'uint64' ? 'CAST(? AS UNSIGNED)' : '?';
}

class FilterCompiler {
  private readonly columns: ReadonlyMap<string, FilterColumn>;
  private readonly table: string;
  private nodes = 0;

  constructor(table: string, columns: readonly FilterColumn[]) {
    this.table = table;
    this.columns = new Map(columns.map((c) => [c.name, c]));
  }

  /** Finds a column by its exact name; BAD_USER_INPUT naming the known columns otherwise. */
  column(name: unknown, path: string): FilterColumn {
    if (typeof name !== 'string' || name === '') {
      throw badInput(`${path}.field must be a non-empty column name; the columns of "${this.table}" are ${this.knownList()}`, {
        path,
        family: this.table,
      });
    }
    const column = this.columns.get(name);
    if (column !== undefined) return column;
    const sameLetters = [...this.columns.keys()].find((c) => c.toLowerCase() === name.toLowerCase());
    const hint = sameLetters !== undefined ? `did you mean "${sameLetters}"? ` : '';
    throw badInput(
      `log family "${this.table}" has no column "${String(previewValue(name))}" (${path}.field); ${hint}use one of ${this.knownList()}`,
      { path, family: this.table, field: previewValue(name), columns: [...this.columns.keys()] },
    );
  }

  private knownList(): string {
    return [...this.columns.keys()].map((c) => `"${c}"`).join(', ');
  }

  node(filter: unknown, path: string, depth: number): SqlFragment {
    if (!isObject(filter)) {
      throw badInput(`${path} must be a filter object such as {field: "name", eq: "spot"}`, { path });
    }
    this.nodes++;
    if (this.nodes > MAX_FILTER_NODES) {
      throw badInput(`the filter has more than ${MAX_FILTER_NODES} nodes; simplify it (for example use "in" instead of many "or" branches)`, {
        limit: MAX_FILTER_NODES,
      });
    }
    if (depth > MAX_FILTER_DEPTH) {
      throw badInput(`the filter nests and/or/not more than ${MAX_FILTER_DEPTH} levels deep (at ${path}); flatten it`, {
        path,
        limit: MAX_FILTER_DEPTH,
      });
    }
    for (const key of Object.keys(filter)) {
      if (!NODE_KEYS.has(key)) {
        throw badInput(`${path} has an unknown key "${String(previewValue(key))}"; a filter takes field, ${OPERATORS.join(', ')}, and, or, not`, {
          path,
          key: previewValue(key),
        });
      }
    }
    const parts: SqlFragment[] = [];
    const operators = OPERATORS.filter((op) => given(filter[op]));
    if (given(filter['field'])) {
      if (operators.length === 0) {
        throw badInput(`${path} names field "${String(previewValue(filter['field']))}" but no operator; add one of ${OPERATORS.join(', ')}`, {
          path,
        });
      }
      const column = this.column(filter['field'], path);
      for (const op of operators) parts.push(this.test(column, op, filter[op], `${path}.${op}`));
    } else if (operators.length > 0) {
      throw badInput(`${path} uses ${operators.join(', ')} without "field"; say which column to test, e.g. {field: "weight", ${operators[0] ?? 'eq'}: ...}`, {
        path,
      });
    }
    if (given(filter['and'])) parts.push(this.list(filter['and'], `${path}.and`, depth, 'AND'));
    if (given(filter['or'])) parts.push(this.list(filter['or'], `${path}.or`, depth, 'OR'));
    if (given(filter['not'])) {
      const inner = this.node(filter['not'], `${path}.not`, depth + 1);
      parts.push({ sql: `NOT (${inner.sql})`, values: inner.values });
    }
    return join(parts, 'AND', TRUE_SQL);
  }

  private list(value: unknown, path: string, depth: number, glue: 'AND' | 'OR'): SqlFragment {
    if (!Array.isArray(value)) throw badInput(`${path} must be a list of filters`, { path });
    const parts = value.map((item, index) => this.node(item, `${path}[${index}]`, depth + 1));
    return join(parts, glue, glue === 'AND' ? TRUE_SQL : FALSE_SQL);
  }

  private test(column: FilterColumn, op: Operator, value: unknown, path: string): SqlFragment {
    if (!ALLOWED_OPERATORS[column.type].has(op)) {
      const allowed = [...ALLOWED_OPERATORS[column.type]].join(', ');
      const rawHint = column.type === 'json' ? '; to look inside json use rawQuery with JSON_EXTRACT' : '';
      throw badInput(`operator "${op}" does not apply to ${column.type} column "${column.name}" (${path}); use ${allowed}${rawHint}`, {
        path,
        field: column.name,
        operator: op,
        type: column.type,
      });
    }
    const name = quoteIdentifier(column.name);
    switch (op) {
      case 'isNull': {
        if (typeof value !== 'boolean') throw badInput(`${path} must be true or false`, { path, field: column.name });
        return { sql: `${name} IS ${value ? '' : 'NOT '}NULL`, values: [] };
      }
      case 'like': {
        if (typeof value !== 'string') {
          throw badInput(`${path} must be a string pattern such as "lab%"`, { path, field: column.name, value: previewValue(value) });
        }
        return { sql: `${name} LIKE ?`, values: [this.value(column, value, path)] };
      }
      case 'in': {
        if (!Array.isArray(value)) throw badInput(`${path} must be a list of values`, { path, field: column.name });
        if (value.length > MAX_IN_VALUES) {
          throw badInput(`${path} has ${value.length} values, more than ${MAX_IN_VALUES}; split the request`, {
            path,
            field: column.name,
            limit: MAX_IN_VALUES,
          });
        }
        if (value.length === 0) return { sql: FALSE_SQL, values: [] };
        const values = value.map((item, index) => this.value(column, item, `${path}[${index}]`));
        return { sql: `${name} IN (${values.map(() => placeholder(column.type)).join(', ')})`, values };
      }
      default:
        return { sql: `${name} ${COMPARISONS[op]} ${placeholder(column.type)}`, values: [this.value(column, value, path)] };
    }
  }

  /** Coerces a value to the column's type exactly as ingest would store it. INVALID_VALUE when it does not fit. */
  private value(column: FilterColumn, value: unknown, path: string): SqlValue {
    if (value === null || value === undefined) {
      throw badInput(`${path} is null; use {field: "${column.name}", isNull: true} to test for NULL`, { path, field: column.name });
    }
    try {
      const coerced = coerceValue(column.type, value);
      if (coerced === null) throw new ValueCoercionError('null is not a comparable value');
      return coerced;
    } catch (error) {
      if (!(error instanceof ValueCoercionError)) throw error;
      throw new AppError(
        'INVALID_VALUE',
        `${path}: value ${JSON.stringify(previewValue(value))} does not fit ${column.type} column "${column.name}": ${error.message}`,
        { path, field: column.name, type: column.type, value: previewValue(value) },
      );
    }
  }
}

function join(parts: readonly SqlFragment[], glue: 'AND' | 'OR', empty: string): SqlFragment {
  if (parts.length === 0) return { sql: empty, values: [] };
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  return {
    sql: parts.map((p) => `(${p.sql})`).join(` ${glue} `),
    values: parts.flatMap((p) => p.values),
  };
}

/**
 * Compiles a structured filter to a WHERE condition with `?` placeholders.
 *
 * A filter node is an object: `field` plus operators (eq, ne, lt, lte, gt,
 * gte, in, like, isNull; all must hold), and/or `and`/`or` (lists) and `not`
 * (one node); every part given must hold. `null`/absent keys are ignored. An
 * empty node matches everything; `and: []` holds, `or: []` and `in: []` never do.
 *
 * @throws AppError BAD_USER_INPUT (not an object, unknown key or column,
 *   operator not allowed for the column's type, too many nodes/values, too
 *   deep), INVALID_VALUE (a value that does not fit the column's type).
 * @example compileFilter({ field: 'weight', gt: '10' }, 'dogs', [{ name: 'weight', type: 'int' }])
 *   // => { sql: '`weight` > CAST(? AS SIGNED)', values: ['10'] }
 */
export function compileFilter(where: unknown, table: string, columns: readonly FilterColumn[]): SqlFragment {
  if (!given(where)) return { sql: TRUE_SQL, values: [] };
  return new FilterCompiler(table, columns).node(where, 'where', 0);
}

/**
 * Compiles a sort order: a list of `{ field, direction }` (direction ASC or
 * DESC, default ASC). `id` is appended as the last key unless present, so
 * pages are stable.
 *
 * @throws AppError BAD_USER_INPUT (unknown column, json column, repeated key, bad direction).
 * @example compileOrderBy([{ field: 'weight', direction: 'DESC' }], 'dogs', cols) // => '`weight` DESC, `id` ASC'
 */
export function compileOrderBy(orderBy: unknown, table: string, columns: readonly FilterColumn[]): string {
  const keys: unknown[] = !given(orderBy) ? [] : Array.isArray(orderBy) ? orderBy : [orderBy];
  if (keys.length > MAX_ORDER_KEYS) {
    throw badInput(`orderBy has ${keys.length} keys, more than ${MAX_ORDER_KEYS}; sort by fewer columns`, { limit: MAX_ORDER_KEYS });
  }
  const compiler = new FilterCompiler(table, columns);
  const seen = new Set<string>();
  const parts = keys.map((key, index) => {
    const path = `orderBy[${index}]`;
    if (!isObject(key)) throw badInput(`${path} must be an object such as {field: "weight", direction: DESC}`, { path });
    const column = compiler.column(key['field'], path);
    if (column.type === 'json') {
      throw badInput(`${path}: json column "${column.name}" cannot be sorted; sort by another column`, { path, field: column.name });
    }
    if (seen.has(column.name)) throw badInput(`${path}: column "${column.name}" is already a sort key; list it once`, { path, field: column.name });
    seen.add(column.name);
    const direction = given(key['direction']) ? key['direction'] : 'ASC';
    if (direction !== 'ASC' && direction !== 'DESC') {
      throw badInput(`${path}.direction must be ASC or DESC`, { path, direction: previewValue(direction) });
    }
    return `${quoteIdentifier(column.name)} ${direction}`;
  });
  if (!seen.has('id')) parts.push(`${quoteIdentifier('id')} ASC`);
  return parts.join(', ');
}

function integerIn(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (!given(value)) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw badInput(`${name} must be an integer from ${min} to ${max} (default ${fallback}), received ${JSON.stringify(previewValue(value))}`, {
      [name]: previewValue(value),
      min,
      max,
    });
  }
  return value;
}

/**
 * Compiles a page of a family's rows:
 * `SELECT <columns> FROM <table> WHERE <filter> ORDER BY <keys>, id LIMIT <limit + 1> OFFSET <offset>`.
 * Limit defaults to {@link DEFAULT_ROWS_LIMIT} (0 to {@link MAX_ROWS_LIMIT});
 * offset defaults to 0 (0 to {@link MAX_ROWS_OFFSET}).
 *
 * @throws AppError BAD_USER_INPUT, INVALID_VALUE as {@link compileFilter} and {@link compileOrderBy}, and for limit/offset out of range.
 */
export function compileRowsQuery(input: RowsQueryInput): CompiledRowsQuery {
  const limit = integerIn(input.limit, 'limit', DEFAULT_ROWS_LIMIT, 0, MAX_ROWS_LIMIT);
  const offset = integerIn(input.offset, 'offset', 0, 0, MAX_ROWS_OFFSET);
  const where = compileFilter(input.where, input.table, input.columns);
  const order = compileOrderBy(input.orderBy, input.table, input.columns);
  const select = input.columns.map((c) => quoteIdentifier(c.name)).join(', ');
  return {
    sql: `SELECT ${select} FROM ${quoteIdentifier(input.table)} WHERE ${where.sql} ORDER BY ${order} LIMIT ${limit + 1} OFFSET ${offset}`,
    values: where.values,
    columns: input.columns.map((c) => c.name),
    limit,
    offset,
  };
}
