/**
 * Which columns of a table a query can read, so that a cross-shard query
 * copies only those. Conservative by construction: `*`, `t.*`, NATURAL and
 * USING joins, or anything the parser cannot account for mean "every
 * column"; an unqualified column counts for every table that has it. The
 * caller creates the staged copy with only these columns, so a reference this
 * analysis missed fails loudly (unknown column) instead of reading NULL, and
 * the caller then retries with every column. Pure.
 */
import { sqlParser } from './sql-parser.js';
import { isCodeToken, tokenizeSql } from './validate-sql.js';

/**
 * The columns of `table` (from `tableColumns`) that `sql` may reference, in
 * `tableColumns` order and always including `id`; null when every column is
 * needed (or the analysis is unsure).
 * Example: ('SELECT a.x FROM a JOIN b ON b.id = a.id', 'b', ['id','y','z']) -> ['id'].
 */
export function neededColumns(sql: string, table: string, tableColumns: readonly string[]): string[] | null {
  const words = tokenizeSql(sql)
    .filter(isCodeToken)
    .map((t) => t.text.toUpperCase());
  if (words.includes('NATURAL') || words.includes('USING')) return null;
  let columnList: string[];
  try {
    columnList = sqlParser('MySQL').parse(sql, { database: 'MySQL' }).columnList;
  } catch {
    try {
      columnList = sqlParser('MariaDB').parse(sql, { database: 'MariaDB' }).columnList;
    } catch {
      return null;
    }
  }
  const wanted = new Set<string>(['id']);
  const known = new Map(tableColumns.map((c) => [c.toLowerCase(), c]));
  for (const entry of columnList) {
    const parts = entry.split('::');
    if (parts.length < 3) return null;
    const owner = parts[1] ?? 'null';
    const column = parts.slice(2).join('::');
    if (column === '(.*)' || column === '*') {
      if (owner === 'null' || owner === table) return null;
      continue;
    }
    if (owner !== 'null' && owner !== table) continue;
    const name = known.get(column.toLowerCase());
    if (name !== undefined) wanted.add(name);
  }
  return tableColumns.filter((c) => wanted.has(c));
}
