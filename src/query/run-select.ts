/**
 * Executes users' read-only SQL on one server: on a reader session (READ
 * ONLY, statement time limit) for single-shard queries, or inside a READ ONLY
 * transaction on a staging connection for federated ones. Converts cells as
 * result-types.ts says and caps the rows. It must not decide where a query
 * runs (route-query.ts and the query service do).
 */
import type { FieldPacket, QueryError } from 'mysql2';
import type { PooledConnection } from '../shards/connection.js';
import type { SqlValue } from '../schema/coerce-value.js';
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

/**
 * Runs `sql` (already validated and row-capped to at most maxRows + 1 rows)
 * and shapes the result. `truncated` is true when more than maxRows came back.
 * `values`, when given, are bound to the `?` placeholders by mysql2 (the
 * GraphQL rows filter); users' SQL text is sent as it is.
 */
export function runSelect(connection: PooledConnection, sql: string, maxRows: number, values?: readonly SqlValue[]): Promise<QueryRows> {
  return new Promise((resolve, reject) => {
    connection.query(
      {
        sql,
        ...(values === undefined ? {} : { values: [...values] }),
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
