/**
 * Connections of a shard's pools, for the code that needs one session for
 * several statements (the ingest transaction, federation staging, DDL under
 * a lock): borrow one connection, run raw statements on it, give it back.
 * Knows nothing of families or users' SQL.
 */
import type { Knex } from 'knex';
import type { Connection, QueryError } from 'mysql2';

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
        typeCast: (field: { string(): string | null }) => field.string(),
      },
      (error: QueryError | null, rows: unknown) => (error ? reject(error) : resolve(rows as Array<Array<string | null>>)),
    );
  });
}


/** Rejects with an Error after `ms` milliseconds unless `promise` settles first. */
export function withTimeout<T>(promise: PromiseLike<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}
