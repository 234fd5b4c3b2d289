/**
 * Scatter-gather fast path for queries over raw_logs alone. Every raw_logs row
 * of a family lives on that family's shard, so a query that groups by
 * `family` has each group entirely on one shard: running the unchanged SQL on
 * every shard and concatenating the groups gives exactly the single-server
 * answer, once the merged groups are ordered (and limited) as the query says.
 * This module decides, from the AST, whether a query has that shape. Pure.
 */
import { RAW_LOGS_TABLE } from '../schema/identifiers.js';

/** How to merge per-shard results of a scatterable query. */
export interface ScatterPlan {
  /** Output column holding the family (merged rows are ordered by it). */
  familyColumn: string;
  /** Final order; MariaDB orders GROUP BY results by the group key when ORDER BY is absent. */
  direction: 'ASC' | 'DESC';
  /** LIMIT n of the query (no offset), applied after merging; null when absent. */
  limit: number | null;
}

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True when any node below `value` is a subquery or a window function. */
function hasNestedSelectOrWindow(value: unknown, depth = 0): boolean {
  if (Array.isArray(value)) return value.some((v) => hasNestedSelectOrWindow(v, depth + 1));
  if (!isNode(value)) return false;
  if (depth > 0 && (value['type'] === 'select' || 'ast' in value)) return true;
  if (value['over'] !== undefined && value['over'] !== null) return true;
  return Object.values(value).some((v) => hasNestedSelectOrWindow(v, depth + 1));
}

function isFamilyRef(node: unknown, qualifiers: ReadonlySet<string>): boolean {
  if (!isNode(node) || node['type'] !== 'column_ref') return false;
  const table = node['table'];
  if (table !== null && table !== undefined && !(typeof table === 'string' && qualifiers.has(table))) return false;
  return node['column'] === 'family';
}

function literalNumber(node: unknown): number | null {
  if (!isNode(node) || node['type'] !== 'number' || typeof node['value'] !== 'number') return null;
  const n = node['value'];
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/**
 * Returns how to merge a scatter over raw_logs, or null when the query does
 * not have the shape that makes concatenation exact: one SELECT from raw_logs
 * alone (no joins, subqueries, set operations, CTEs or window functions),
 * GROUP BY exactly `family` (no ROLLUP), `family` among the output columns,
 * ORDER BY absent or exactly `family`, LIMIT absent or a plain count.
 * Example: `SELECT family, COUNT(*) FROM raw_logs GROUP BY family` ->
 *   { familyColumn: 'family', direction: 'ASC', limit: null }.
 */
export function planScatter(ast: unknown): ScatterPlan | null {
  if (!isNode(ast) || ast['type'] !== 'select') return null;
  if (ast['_next'] !== undefined && ast['_next'] !== null) return null;
  if (ast['with'] !== null && ast['with'] !== undefined) return null;
  const from = ast['from'];
  if (!Array.isArray(from) || from.length !== 1) return null;
  const source = from[0];
  if (!isNode(source) || source['table'] !== RAW_LOGS_TABLE || (source['db'] ?? null) !== null || source['join'] !== undefined) return null;
  if (hasNestedSelectOrWindow(ast)) return null;
  const qualifiers = new Set<string>([RAW_LOGS_TABLE]);
  if (typeof source['as'] === 'string') qualifiers.add(source['as']);

  const groupby = ast['groupby'];
  if (!isNode(groupby) || !Array.isArray(groupby['columns']) || groupby['columns'].length !== 1) return null;
  if (!isFamilyRef(groupby['columns'][0], qualifiers)) return null;
  const modifiers = groupby['modifiers'];
  if (Array.isArray(modifiers) && modifiers.some((m) => m !== null)) return null;

  const columns = ast['columns'];
  if (!Array.isArray(columns)) return null;
  let familyColumn: string | null = null;
  for (const column of columns) {
    if (isNode(column) && isFamilyRef(column['expr'], qualifiers)) {
      familyColumn = typeof column['as'] === 'string' ? column['as'] : 'family';
      break;
    }
  }
  if (familyColumn === null) return null;

  let direction: 'ASC' | 'DESC' = 'ASC';
  const orderby = ast['orderby'];
  if (orderby !== null && orderby !== undefined) {
    if (!Array.isArray(orderby) || orderby.length !== 1 || !isNode(orderby[0])) return null;
    const expr = orderby[0]['expr'];
    const byAlias = isNode(expr) && expr['type'] === 'column_ref' && expr['table'] === null && expr['column'] === familyColumn;
    if (!isFamilyRef(expr, qualifiers) && !byAlias) return null;
    direction = orderby[0]['type'] === 'DESC' ? 'DESC' : 'ASC';
  }

  let limit: number | null = null;
  const limitNode = ast['limit'];
  if (isNode(limitNode) && Array.isArray(limitNode['value']) && limitNode['value'].length > 0) {
    if (limitNode['value'].length !== 1) return null;
    limit = literalNumber(limitNode['value'][0]);
    if (limit === null) return null;
  }
  return { familyColumn, direction, limit };
}

/**
 * Merges per-shard rows as `plan` says: concatenation, ordered by the family
 * column (family names are ASCII and stored ascii_bin, so code-unit order is
 * the server's order), then the query's LIMIT.
 */
/**
 * True when a family's group came back from more than one shard: a spread
 * family (docs/big-families.md), whose raw_logs rows live on each of its
 * parts. Concatenating would answer it twice; the caller gathers instead.
 * (With a LIMIT, a spread family in the overall answer is within every
 * part's own first rows, so it is seen.)
 */
export function scatterNeedsMerge(plan: ScatterPlan, parts: ReadonlyArray<ReadonlyArray<Record<string, unknown>>>): boolean {
  const seen = new Map<string, number>();
  for (const [index, rows] of parts.entries()) {
    for (const row of rows) {
      const family = String(row[plan.familyColumn] ?? '');
      const first = seen.get(family);
      if (first !== undefined && first !== index) return true;
      seen.set(family, index);
    }
  }
  return false;
}

export function mergeScatter<T extends Record<string, unknown>>(plan: ScatterPlan, parts: readonly T[][]): T[] {
  const rows = parts.flat();
  const key = plan.familyColumn;
  const sign = plan.direction === 'ASC' ? 1 : -1;
  rows.sort((a, b) => {
    const x = String(a[key] ?? '');
    const y = String(b[key] ?? '');
    return x < y ? -sign : x > y ? sign : 0;
  });
  return plan.limit === null ? rows : rows.slice(0, plan.limit);
}
