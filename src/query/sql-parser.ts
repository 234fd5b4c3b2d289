/**
 * node-sql-parser, one grammar per dialect, each loaded when first asked
 * for. The package's main entry loads all of its fifteen grammars at once
 * (about 30 MB of memory); the gateway only ever parses MySQL, and MariaDB
 * as a fallback for MariaDB-only syntax (about 11 MB each). No I/O beyond
 * loading the module.
 */
import { createRequire } from 'node:module';
import type { Parser } from 'node-sql-parser';

/** The dialects the gateway parses. */
export type SqlDialect = 'MySQL' | 'MariaDB';

const MODULES: Record<SqlDialect, string> = {
  MySQL: 'node-sql-parser/build/mysql.js',
  MariaDB: 'node-sql-parser/build/mariadb.js',
};

const parsers = new Map<SqlDialect, Parser>();

/** The parser of `dialect` (pass the same `{ database: dialect }` to its methods). */
export function sqlParser(dialect: SqlDialect): Parser {
  let parser = parsers.get(dialect);
  if (parser === undefined) {
    const loaded = createRequire(import.meta.url)(MODULES[dialect]) as { Parser: new () => Parser };
    parser = new loaded.Parser();
    parsers.set(dialect, parser);
  }
  return parser;
}
