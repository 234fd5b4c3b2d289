/**
 * Executes users' read-only SQL on one server: on a reader session (READ
 * ONLY, statement time limit) for single-shard queries, or inside a READ ONLY
 * transaction on a staging connection for federated ones. Converts cells as
 * result-types.ts says and caps the rows. It must not decide where a query
 * runs (route-query.ts and the query service do).
 */
import type { Knex } from 'knex';
import type { Connection, FieldPacket, QueryError } from 'mysql2';
import { castCell, sqlTypeName, typeNameOfNumber, type CastField, type CellValue } from './result-types.js';

/** One result column: its name and SQL type, in the server's order. */
export interface QueryColumn {
  name: string;
  type: string;
}

/** Rows of a result, already JSON-ready, plus whether the row cap cut them. */
export interface QueryRows {
  columns: QueryColumn[];
  rows: Array<Record<string, CellValue>>;
  truncated: boolean;
}

/** A raw mysql2 connection taken from a knex pool. */
export type PooledConnection = Connection;

/** Runs `work` on one connection of `knex`'s pool, always giving it back. */
export async function withConnection<T>(knex: Knex, work: (connection: PooledConnection) => Promise<T>): Promise<T> {
  const connection = (await knex.client.acquireConnection()) as PooledConnection;
  try {
    return await work(connection);
  } finally {
    await knex.client.releaseConnection(connection);
  }
}

/** Runs a statement with no result rows of interest (DDL, SET, INSERT of staged rows). */
export function execute(connection: PooledConnection, sql: string): Promise<void> {
  return new Promise((resolve, reject) => {
    connection.query(sql, (error: QueryError | null) => (error ? reject(error) : resolve()));
  });
}

/** Runs a query and returns raw rows as arrays of strings (or null), for copying between servers. */
export function fetchRawRows(connection: PooledConnection, sql: string): Promise<Array<Array<string | null>>> {
  return new Promise((resolve, reject) => {
    connection.query(
      {
        sql,
        rowsAsArray: true,
        typeCast: (field: CastField) => field.string(),
      },
      (error: QueryError | null, rows: unknown) => (error ? reject(error) : resolve(rows as Array<Array<string | null>>)),
    );
  });
}

/**
 * Runs `sql` (already validated and row-capped to at most maxRows + 1 rows)
 * and shapes the result. `truncated` is true when more than maxRows came back.
 */
export function runSelect(connection: PooledConnection, sql: string, maxRows: number): Promise<QueryRows> {
  return new Promise((resolve, reject) => {
    connection.query(
      {
        sql,
        rowsAsArray: true,
        typeCast: (field: CastField, next: () => unknown) => castCell(field, next),
      },
      (error: QueryError | null, rows: unknown, fields: FieldPacket[] | undefined) => {
        if (error) {
          reject(error);
          return;
        }
        resolve(shapeRows(rows as CellValue[][], (fields ?? []) as unknown as CastFieldWithName[], maxRows));
      },
    );
  });
}

interface CastFieldWithName {
  name: string;
  typeName?: string;
  columnType?: number;
  type?: number;
  columnLength?: number;
  length?: number;
  extendedFormat?: string;
}

function shapeRows(rows: CellValue[][], fields: readonly CastFieldWithName[], maxRows: number): QueryRows {
  const columns = fields.map((field) => ({
    name: field.name,
    type: sqlTypeName({
      type: field.typeName ?? typeNameOfNumber(field.columnType ?? field.type),
      length: field.columnLength ?? field.length ?? 0,
      extendedFormat: field.extendedFormat,
    }),
  }));
  const truncated = rows.length > maxRows;
  const kept = truncated ? rows.slice(0, maxRows) : rows;
  const names = columns.map((c) => c.name);
  const shaped = kept.map((row) => {
    const object: Record<string, CellValue> = {};
    for (let i = 0; i < names.length; i++) object[names[i] as string] = row[i] ?? null;
    return object;
  });
  return { columns, rows: shaped, truncated };
}
