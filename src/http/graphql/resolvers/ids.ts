/**
 * The `id` of every GraphQL object type, so that normalised caches (Apollo
 * Client's InMemoryCache, urql's graphcache) store each thing once with no
 * configuration. Things are named by what names them for the gateway (a
 * family, a shard, `<family>.<column>`); answers that are values are named
 * by what they answer (the SQL text, the rows arguments), so the same
 * question always lands on the same cache entry; one-off answers of
 * mutations get a unique id.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { ColumnDescription } from '../../../schema/columns.js';
import type { ColumnView } from '../mappers.js';

/** Example: ('dog_registry', 'weight') -> 'dog_registry.weight'. */
export function columnId(family: string, column: string): string {
  return `${family}.${column}`;
}

/** A family's columns with the family each belongs to (Column.id). */
export function columnViews(family: string, columns: readonly ColumnDescription[]): ColumnView[] {
  return columns.map((column) => ({ ...column, family }));
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

/** The same SQL text always gives the same id: `sql:<sha-256 prefix>`. */
export function queryResultId(sql: string): string {
  return `sql:${digest(sql)}`;
}

/** A rows page's id: the family and the arguments as given (`<family>.rows:<sha-256 prefix>`). */
export function rowsResultId(family: string, args: Record<string, unknown>): string {
  const canonical = JSON.stringify(['where', 'orderBy', 'limit', 'offset'].map((key) => args[key] ?? null));
  return `${family}.rows:${digest(canonical)}`;
}

/** `<family>/<idempotencyKey>` when a key was given (a replay answers with the same id), else unique. */
export function ingestId(family: string, idempotencyKey: string | null | undefined): string {
  return idempotencyKey === null || idempotencyKey === undefined ? randomUUID() : `${family}/${idempotencyKey}`;
}

/** A unique id for a one-off answer. */
export function uniqueId(): string {
  return randomUUID();
}

/** A family move is named by its moveId: each move is its own cache entry. */
export function familyMoveId(moveId: string): string {
  return moveId;
}

/** One shard's row count in the rebalance plan. Example: ('before', 'shard_a') -> 'rebalance.before.shard_a'. */
export function shardRowsId(side: 'before' | 'after', shard: string): string {
  return `rebalance.${side}.${shard}`;
}

/** A proposed move of the rebalance plan (a plan moves a family at most once). Example: 'dogs' -> 'rebalance.move.dogs'. */
export function rebalanceMoveId(family: string): string {
  return `rebalance.move.${family}`;
}
