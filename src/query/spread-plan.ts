/**
 * Push-down plans for a query over one spread family alone (a family whose
 * rows are split over several shards, docs/big-families.md). Decides from
 * the AST, conservatively, whether the query has a shape whose answer can be
 * computed from a small part of every part's rows, and writes the SQL for
 * that:
 * - `aggregate`: GROUP BY and/or aggregates. Every part runs a partial
 *   aggregate (COUNT and SUM as partial sums, MIN/MAX as partial extremes,
 *   AVG as SUM and COUNT, WHERE applied there); the partial rows are staged
 *   on one server, where a merge query (SUM of counts, MIN of minimums,
 *   SUM(s)/SUM(n), then HAVING, ORDER BY, LIMIT) gives the answer. DISTINCT
 *   aggregates over one expression push the distinct (keys, value) pairs
 *   down instead and aggregate them in the merge.
 * - `top`: ORDER BY ... LIMIT n [OFFSET m] without aggregates: every part
 *   sends only its first n + m rows in that order (the global first n + m
 *   are among them), and the user's SQL runs unchanged on those.
 * - `filter`: any other single-table query without subqueries: its WHERE
 *   runs on every part, so only matching rows are staged.
 * Anything else gets no plan, and the caller stages every row (exact,
 * bounded by federation_max_rows). SQL is written by re-serialising the
 * AST, so a plan is only given when the query re-serialises to an AST equal
 * to its own (nothing the serialiser cannot say is lost). Pure.
 */
import nodeSqlParser from 'node-sql-parser';
import { AppError } from '../errors/app-error.js';

const PARSER = new nodeSqlParser.Parser();
const DIALECT = { database: 'MySQL' };

/** Prefix of the staged partial aggregate columns. */
const KEY_PREFIX = 'databalancer_k';
const PARTIAL_PREFIX = 'databalancer_p';

/** The partial aggregate push-down of a GROUP BY / aggregate query. */
export interface AggregatePushdown {
  kind: 'aggregate';
  /** The partial query reading `table` (a part's family table, or an empty copy of its shape), aliased as the user's query names it. */
  partialSql: (table: string) => string;
  /** The merge query over `table` (the staged partial rows); `names` are the user's query's output column names, in order. */
  mergeSql: (table: string, names: readonly string[]) => string;
}

/** Rows every part sends for ORDER BY ... LIMIT: `partSql` reads `table` and gives its rows (the columns of `selectList`, SQL text), at most n + m. */
export interface TopPushdown {
  kind: 'top';
  partSql: (table: string, selectList?: string) => string;
}

/** Only the WHERE pushed down: `partSql` reads `table` and gives its matching rows (the columns of `selectList`, SQL text). */
export interface FilterPushdown {
  kind: 'filter';
  partSql: (table: string, selectList?: string) => string;
}

/** What can be pushed down to the parts of a spread family. */
export type SpreadPushdown = AggregatePushdown | TopPushdown | FilterPushdown;

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** True when any node below `value` is a subquery or a window function. */
function hasNestedSelectOrWindow(value: unknown, depth = 0): boolean {
  if (Array.isArray(value)) return value.some((v) => hasNestedSelectOrWindow(v, depth + 1));
  if (!isNode(value)) return false;
  if (depth > 0 && (value['type'] === 'select' || 'ast' in value)) return true;
  if (value['over'] !== undefined && value['over'] !== null) return true;
  return Object.values(value).some((v) => hasNestedSelectOrWindow(v, depth + 1));
}

/** The name of a table qualifier as the parser gives it (a string or a quoted-string node). */
function qualifierName(table: unknown): string | null {
  if (table === null || table === undefined) return null;
  if (typeof table === 'string') return table;
  if (isNode(table) && typeof table['value'] === 'string') return table['value'];
  return null;
}

function columnName(node: Node): string | null {
  const column = node['column'];
  if (typeof column === 'string') return column;
  if (isNode(column) && isNode(column['expr']) && typeof column['expr']['value'] === 'string') return column['expr']['value'];
  return null;
}

/** A comparable form of an expression: column references without their (single) table's qualifier, names folded. */
function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (!isNode(value)) return value;
  if (value['type'] === 'column_ref') return { type: 'column_ref', column: (columnName(value) ?? '').toLowerCase() };
  const out: Node = {};
  for (const [k, v] of Object.entries(value)) out[k] = normalize(v);
  return out;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(normalize(a)) === JSON.stringify(normalize(b));
}

function containsAggregate(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(containsAggregate);
  if (!isNode(value)) return false;
  if (value['type'] === 'aggr_func') return true;
  return Object.values(value).some(containsAggregate);
}

function columnRef(name: string): Node {
  return { type: 'column_ref', table: null, column: name, collate: null };
}

function literalCount(node: unknown): number | null {
  if (!isNode(node) || node['type'] !== 'number' || typeof node['value'] !== 'number') return null;
  const n = node['value'];
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** The expression of a template `SELECT <expr>` with `a` and `b` standing for columns. */
function template(sql: string, bindings: Record<string, string>): Node {
  const ast = PARSER.astify(`SELECT ${sql}`, DIALECT) as unknown as Node;
  const expr = ((ast['columns'] as Node[])[0] as Node)['expr'];
  const replace = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(replace);
    if (!isNode(value)) return value;
    if (value['type'] === 'column_ref') {
      const name = columnName(value);
      if (name !== null && bindings[name] !== undefined) return columnRef(bindings[name]);
    }
    const out: Node = {};
    for (const [k, v] of Object.entries(value)) out[k] = replace(v);
    return out;
  };
  return replace(expr) as Node;
}

function sqlify(ast: Node): string {
  return PARSER.sqlify(ast as never, DIALECT);
}

/** The AST as text, with what the serialiser spells out made explicit (an ORDER BY key's ASC). */
function canonical(ast: unknown): string {
  return JSON.stringify(ast, (key, value: unknown) => {
    if (isNode(value) && 'expr' in value && value['type'] === null && key !== 'args') return { ...value, type: 'ASC' };
    // A qualifier re-serialised in backticks parses back as a quoted-string node.
    if (key === 'table' && isNode(value) && typeof value['value'] === 'string') return value['value'];
    return value;
  });
}

/** True when `ast` re-serialises to SQL that parses back to the same AST. */
function roundTrips(ast: Node): boolean {
  try {
    const again = PARSER.astify(sqlify(ast), DIALECT);
    return canonical(Array.isArray(again) ? again[0] : again) === canonical(ast);
  } catch {
    return false;
  }
}

/** An identifier quoted for MySQL (any name: backticks doubled). */
function quoteName(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** Placeholder alias of output column `i` in the merge, replaced by the real name after serialising. */
function outputPlaceholder(i: number): string {
  return `databalancer_out${i}`;
}

/** `SELECT * ...` (as serialised here) with `selectList` (SQL text) for the star. */
function withSelectList(sql: string, selectList: string | undefined): string {
  if (selectList === undefined) return sql;
  if (!sql.startsWith('SELECT * ')) throw new AppError('QUERY_FAILED', 'the part query could not be written', { reason: 'part_select' });
  return `SELECT ${selectList} ${sql.slice('SELECT * '.length)}`;
}

/** The same SELECT reading `table` (aliased as `qualifier`), with `changes` applied. */
function withTable(base: Node, table: string, qualifier: string, changes: Node): Node {
  return { ...clone(base), from: [{ db: null, table, as: qualifier }], ...clone(changes) };
}

const AGGREGATES = new Set(['COUNT', 'SUM', 'MIN', 'MAX', 'AVG']);

/**
 * The push-down plan of `ast` over spread family `family` whose tables have
 * `columns` (their union), or null when the query must see every row
 * (joins, subqueries, set operations, CTEs, window functions, another
 * table, shapes this planner does not prove exact).
 * Example: `SELECT k, COUNT(*) FROM f GROUP BY k` -> aggregate: every part
 * runs `SELECT k AS databalancer_k0, COUNT(*) AS databalancer_p0 FROM f
 * GROUP BY k`, the merge `SELECT databalancer_k0 AS k, CAST(SUM(databalancer_p0)
 * AS SIGNED) AS "COUNT(*)" FROM staged GROUP BY databalancer_k0`.
 */
export function planSpreadPushdown(ast: unknown, family: string, columns: readonly string[]): SpreadPushdown | null {
  if (!isNode(ast) || ast['type'] !== 'select') return null;
  if (ast['_next'] !== undefined && ast['_next'] !== null) return null;
  if (ast['with'] !== null && ast['with'] !== undefined) return null;
  if (ast['options'] !== null && ast['options'] !== undefined) return null;
  if (ast['window'] !== null && ast['window'] !== undefined) return null;
  if (ast['locking_read'] !== null && ast['locking_read'] !== undefined) return null;
  if (ast['collate'] !== null && ast['collate'] !== undefined) return null;
  if (ast['parentheses'] === true) return null;
  const into = ast['into'];
  if (isNode(into) && into['position'] !== null && into['position'] !== undefined) return null;
  const from = ast['from'];
  if (!Array.isArray(from) || from.length !== 1) return null;
  const source = from[0];
  if (!isNode(source) || source['table'] !== family || (source['db'] ?? null) !== null || source['join'] !== undefined) return null;
  if (Object.keys(source).some((k) => !['db', 'table', 'as'].includes(k))) return null;
  if (hasNestedSelectOrWindow(ast)) return null;
  if (!roundTrips(ast)) return null;
  const qualifier = typeof source['as'] === 'string' ? source['as'] : family;
  // Every column reference must name this table (or nothing).
  let foreign = false;
  const checkRefs = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(checkRefs);
    if (!isNode(value)) return;
    if (value['type'] === 'column_ref') {
      const owner = qualifierName(value['table']);
      if ((owner !== null && owner !== qualifier) || value['db'] !== undefined) foreign = true;
      if (columnName(value) === null) foreign = true;
    }
    Object.values(value).forEach(checkRefs);
  };
  checkRefs(ast);
  if (foreign) return null;

  const known = new Set(columns.map((c) => c.toLowerCase()));
  const items = ast['columns'];
  if (!Array.isArray(items)) return null;
  const limitNode = ast['limit'];
  const limits = isNode(limitNode) && Array.isArray(limitNode['value']) ? (limitNode['value'] as unknown[]) : [];
  const groupby = isNode(ast['groupby']) ? ast['groupby'] : null;
  const groupColumns = groupby !== null && Array.isArray(groupby['columns']) ? (groupby['columns'] as unknown[]) : [];
  if (groupby !== null && Array.isArray(groupby['modifiers']) && groupby['modifiers'].some((m) => m !== null)) return null;
  const aggregated = groupColumns.length > 0 || containsAggregate(items) || containsAggregate(ast['having']) || containsAggregate(ast['orderby']);
  const base: Node = { ...ast, with: null, groupby: null, having: null, orderby: null, limit: null, distinct: null };

  const filter: FilterPushdown = {
    kind: 'filter',
    partSql: (table, selectList) =>
      withSelectList(sqlify(withTable(base, table, qualifier, { columns: [{ expr: { type: 'column_ref', table: null, column: '*' }, as: null }] })), selectList),
  };
  if (aggregated) return planAggregate(ast, base, qualifier, items, groupColumns, known) ?? filter;
  if (ast['distinct'] === 'DISTINCT') {
    // SELECT DISTINCT e1, e2 is GROUP BY e1, e2 without aggregates: each part sends its distinct rows.
    if (items.some((item) => !isNode(item) || !isNode(item['expr']) || isStar(item['expr']) || item['expr']['type'] === 'number')) return filter;
    const columns = items.map((item) => clone((item as Node)['expr']));
    return planAggregate({ ...ast, distinct: null, groupby: { columns, modifiers: [null] } }, base, qualifier, items, columns, known) ?? filter;
  }
  if (limits.length > 0 && ast['distinct'] === null) {
    const counts = limits.map(literalCount);
    if (counts.some((n) => n === null)) return filter;
    const separator = isNode(limitNode) ? limitNode['seperator'] : '';
    // LIMIT n | LIMIT o, n | LIMIT n OFFSET o: the part sends n + o rows.
    const total = (counts as number[]).reduce((sum, n) => sum + n, 0);
    if (counts.length === 2 && separator !== ',' && separator !== 'offset') return filter;
    const order = resolveOrder(ast['orderby'], items, known);
    if (order === null) return filter;
    return {
      kind: 'top',
      partSql: (table, selectList) =>
        withSelectList(
          sqlify(
            withTable(base, table, qualifier, {
              columns: [{ expr: { type: 'column_ref', table: null, column: '*' }, as: null }],
              orderby: order.length === 0 ? null : order,
              limit: { seperator: '', value: [{ type: 'number', value: total }] },
            }),
          ),
          selectList,
        ),
    };
  }
  return filter;
}

/**
 * ORDER BY of the query with positions and output aliases replaced by the
 * expressions they name (so it runs on a part, whose select list differs);
 * [] when absent, null when it cannot be resolved.
 */
function resolveOrder(orderby: unknown, items: readonly unknown[], known: ReadonlySet<string>): Node[] | null {
  if (orderby === null || orderby === undefined) return [];
  if (!Array.isArray(orderby)) return null;
  const out: Node[] = [];
  for (const entry of orderby) {
    if (!isNode(entry)) return null;
    let expr = entry['expr'];
    const position = literalCount(expr);
    if (position !== null) {
      const item = items[position - 1];
      if (!isNode(item) || !isNode(item['expr']) || isStar(item['expr'])) return null;
      expr = item['expr'];
    } else if (isNode(expr) && expr['type'] === 'column_ref' && qualifierName(expr['table']) === null) {
      // ORDER BY resolves a bare name among the output aliases first.
      const name = (columnName(expr) ?? '').toLowerCase();
      const aliased = items.filter((item) => isNode(item) && typeof item['as'] === 'string' && item['as'].toLowerCase() === name);
      if (aliased.length > 1) return null;
      const item = aliased[0];
      if (isNode(item)) expr = item['expr'];
      else if (!known.has(name)) return null;
    } else if (isNode(expr) && expr['type'] === 'number') {
      return null;
    }
    out.push({ ...entry, expr: clone(expr) });
  }
  return out;
}

function isStar(expr: Node): boolean {
  return expr['type'] === 'star' || (expr['type'] === 'column_ref' && expr['column'] === '*');
}

interface Aggregate {
  node: Node;
  name: string;
  distinct: boolean;
  arg: Node | null;
}

function collectAggregates(value: unknown, out: Aggregate[]): boolean {
  if (Array.isArray(value)) return value.every((v) => collectAggregates(v, out));
  if (!isNode(value)) return true;
  if (value['type'] === 'aggr_func') {
    const name = String(value['name']).toUpperCase();
    const args = value['args'];
    if (!AGGREGATES.has(name) || !isNode(args)) return false;
    if ((args['orderby'] ?? null) !== null || (args['separator'] ?? null) !== null) return false;
    const expr = args['expr'];
    if (!isNode(expr) || containsAggregate(expr)) return false;
    const star = expr['type'] === 'star';
    if (star && name !== 'COUNT') return false;
    const distinct = args['distinct'] === 'DISTINCT';
    if (args['distinct'] !== undefined && args['distinct'] !== null && !distinct) return false;
    out.push({ node: value, name, distinct, arg: star ? null : expr });
    return true;
  }
  return Object.values(value).every((v) => collectAggregates(v, out));
}

function planAggregate(
  ast: Node,
  base: Node,
  qualifier: string,
  items: readonly unknown[],
  groupColumns: readonly unknown[],
  known: ReadonlySet<string>,
): AggregatePushdown | null {
  if (ast['distinct'] !== null && ast['distinct'] !== undefined) return null;
  const aliasOf = (name: string): Node[] =>
    items.filter((item): item is Node => isNode(item) && typeof item['as'] === 'string' && item['as'].toLowerCase() === name.toLowerCase());
  // The group keys as expressions: positions and (when no column has the name) aliases resolved.
  const keys: Node[] = [];
  for (const group of groupColumns) {
    if (!isNode(group)) return null;
    let expr: Node = group;
    const position = literalCount(group);
    if (position !== null) {
      const item = items[position - 1];
      if (!isNode(item) || !isNode(item['expr'])) return null;
      expr = item['expr'];
    } else if (group['type'] === 'number') {
      return null;
    } else if (group['type'] === 'column_ref' && qualifierName(group['table']) === null && !known.has((columnName(group) ?? '').toLowerCase())) {
      const aliased = aliasOf(columnName(group) ?? '');
      if (aliased.length !== 1) return null;
      expr = (aliased[0] as Node)['expr'] as Node;
    }
    if (!isNode(expr) || isStar(expr) || containsAggregate(expr)) return null;
    keys.push(clone(expr));
  }
  const aggregates: Aggregate[] = [];
  if (!collectAggregates([items, ast['having'], ast['orderby']], aggregates)) return null;
  const distinctMode = aggregates.some((a) => a.distinct);
  let distinctArg: Node | null = null;
  if (distinctMode) {
    for (const a of aggregates) {
      if (a.arg === null) return null;
      if (!a.distinct && a.name !== 'MIN' && a.name !== 'MAX') return null;
      if (distinctArg === null) distinctArg = a.arg;
      else if (!same(distinctArg, a.arg)) return null;
    }
  }

  // Partial select list: the keys, then one or two partial columns per distinct aggregate.
  const partialItems: Node[] = keys.map((expr, i) => ({ expr: clone(expr), as: `${KEY_PREFIX}${i}` }));
  const groupOfPartial: Node[] = keys.map((expr) => clone(expr));
  const merged = new Map<string, Node>();
  if (distinctMode && distinctArg !== null) {
    const d = `${PARTIAL_PREFIX}0`;
    partialItems.push({ expr: clone(distinctArg), as: d });
    groupOfPartial.push(clone(distinctArg));
    for (const a of aggregates) {
      const node = clone(a.node);
      (node['args'] as Node)['expr'] = columnRef(d);
      merged.set(JSON.stringify(normalize(a.node)), node);
    }
  } else {
    let n = 0;
    for (const a of aggregates) {
      const key = JSON.stringify(normalize(a.node));
      if (merged.has(key)) continue;
      const arg = a.arg === null ? '*' : null;
      const partial = (fn: string): string => {
        const name = `${PARTIAL_PREFIX}${n++}`;
        const expr = template(`${fn}(${arg ?? 'databalancer_arg'})`, {});
        if (a.arg !== null) ((expr['args'] as Node)['expr'] as unknown) = clone(a.arg);
        partialItems.push({ expr, as: name });
        return name;
      };
      switch (a.name) {
        case 'COUNT':
          merged.set(key, template('CAST(SUM(a) AS SIGNED)', { a: partial('COUNT') }));
          break;
        case 'SUM':
          merged.set(key, template('SUM(a)', { a: partial('SUM') }));
          break;
        case 'MIN':
          merged.set(key, template('MIN(a)', { a: partial('MIN') }));
          break;
        case 'MAX':
          merged.set(key, template('MAX(a)', { a: partial('MAX') }));
          break;
        case 'AVG': {
          const s = partial('SUM');
          const c = partial('COUNT');
          merged.set(key, template('SUM(a) / NULLIF(SUM(b), 0)', { a: s, b: c }));
          break;
        }
        default:
          return null;
      }
    }
  }

  // Rewrites an expression of the user's query into one over the partial rows.
  const aliases = new Set(items.filter(isNode).map((item) => (typeof item['as'] === 'string' ? item['as'].toLowerCase() : '')));
  let failed = false;
  const rewrite = (value: unknown, aliasOk: boolean): unknown => {
    if (Array.isArray(value)) return value.map((v) => rewrite(v, aliasOk));
    if (!isNode(value)) return value;
    if (value['type'] === 'aggr_func') {
      const m = merged.get(JSON.stringify(normalize(value)));
      if (m === undefined) failed = true;
      return clone(m);
    }
    const k = keys.findIndex((key) => same(key, value));
    if (k >= 0) return columnRef(`${KEY_PREFIX}${k}`);
    if (value['type'] === 'column_ref' || value['type'] === 'star') {
      const name = (columnName(value) ?? '').toLowerCase();
      // HAVING and ORDER BY may name an output column (the merge gives it the same name).
      if (!(aliasOk && qualifierName(value['table']) === null && aliases.has(name) && !known.has(name))) failed = true;
      return clone(value);
    }
    const out: Node = {};
    for (const [key, v] of Object.entries(value)) out[key] = rewrite(v, aliasOk);
    return out;
  };
  const mergeItems = items.map((item) => (isNode(item) ? rewrite(item['expr'], false) : null)) as Node[];
  const having = ast['having'] === null || ast['having'] === undefined ? null : rewrite(ast['having'], true);
  const orderby = Array.isArray(ast['orderby'])
    ? (ast['orderby'] as unknown[]).map((entry) => {
        if (!isNode(entry)) {
          failed = true;
          return entry;
        }
        // Positions stay positions: the merge lists the same columns in the same order.
        return literalCount(entry['expr']) !== null ? clone(entry) : { ...entry, expr: rewrite(entry['expr'], true) };
      })
    : null;
  if (failed) return null;
  const partialGroup = groupOfPartial.length === 0 ? null : { columns: groupOfPartial, modifiers: [null] };
  return {
    kind: 'aggregate',
    partialSql: (table) => sqlify(withTable(base, table, qualifier, { columns: partialItems, groupby: partialGroup })),
    mergeSql: (table, names) => {
      if (names.length !== mergeItems.length) throw new AppError('QUERY_FAILED', 'the merge needs one name per output column', { reason: 'merge_names' });
      let sql = sqlify({
        ...clone(base),
        where: null,
        from: [{ db: null, table, as: null }],
        columns: mergeItems.map((expr, i) => ({ expr: clone(expr), as: outputPlaceholder(i) })),
        groupby: keys.length === 0 ? null : { columns: keys.map((_, i) => columnRef(`${KEY_PREFIX}${i}`)), modifiers: [null] },
        having: clone(having),
        orderby: clone(orderby),
        limit: clone(ast['limit'] ?? null),
      });
      // The serialiser does not escape backticks in aliases: the names go in afterwards, each where its placeholder is.
      names.forEach((name, i) => {
        const placeholder = quoteName(outputPlaceholder(i));
        if (sql.split(placeholder).length !== 2) throw new AppError('QUERY_FAILED', 'the merge query could not be written', { reason: 'merge_names' });
        sql = sql.replace(placeholder, () => quoteName(name));
      });
      return sql;
    },
  };
}
