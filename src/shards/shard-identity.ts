/**
 * Shard identity that survives respelling an address. A shard given without
 * a name in --shards (or the single server of --mysql_address) gets the id
 * `host:port/database`, which changes when the same server is written
 * another way (`localhost` vs `127.0.0.1`), and every family placed under the
 * old id would then be unreachable. So every shard's database records the id
 * it was first bootstrapped under (schema/internal-tables.ts,
 * SHARD_IDENTITY_TABLE), and at start an unnamed shard whose database already
 * carries an id takes that id. Named shards keep their names: a name is the
 * operator's stable id, and a database recorded under another id is reported
 * (it is another shard's database, or the shard was renamed).
 * A shard that cannot be reached at start keeps its address id.
 */
import type mysql from 'mysql2/promise';
import { openServerConnection } from './connection.js';
import type { ShardConfig } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import { SHARD_IDENTITY_TABLE } from '../schema/internal-tables.js';

/** What reading one shard's recorded identity found. */
export type RecordedIdentity =
  /** The id its database recorded. */
  | { kind: 'recorded'; id: string }
  /** The server answered, but its database records no id yet (new shard, or older gateway). */
  | { kind: 'none' }
  /** The server could not be asked (down, refused, timed out). */
  | { kind: 'unreachable' };

/** One decision of {@link reconcileShardIds}, for the log. */
export interface IdentityNote {
  level: 'info' | 'error';
  shard: string;
  message: string;
}

/**
 * The configured shards with unnamed ones renamed to the id their database
 * recorded. Pure. Two shards resolving to one id (the same database spelled
 * twice) keep their configured ids and get an error note each, since routing
 * both to one id would hide a configuration mistake.
 * @example reconcileShardIds([{ id: '127.0.0.1:3306/db', named: false, ... }], new Map([['127.0.0.1:3306/db', { kind: 'recorded', id: 'localhost:3306/db' }]]))
 *   // => shards [{ id: 'localhost:3306/db', ... }], one info note
 */
export function reconcileShardIds(
  shards: readonly ShardConfig[],
  recorded: ReadonlyMap<string, RecordedIdentity>,
): { shards: ShardConfig[]; notes: IdentityNote[] } {
  const notes: IdentityNote[] = [];
  const proposed = shards.map((shard) => {
    const found = recorded.get(shard.id);
    if (found === undefined || found.kind !== 'recorded' || found.id === shard.id) return shard.id;
    if (shard.named) {
      notes.push({
        level: 'error',
        shard: shard.id,
        message: `the database of shard "${shard.id}" (${shard.host}:${shard.port}/${shard.database}) was bootstrapped as shard "${found.id}"; if it is that shard, name it ${found.id}= in --shards (a shard id must not change once families are placed on it)`,
      });
      return shard.id;
    }
    notes.push({
      level: 'info',
      shard: found.id,
      message: `${shard.host}:${shard.port}/${shard.database} is shard "${found.id}" (recorded in its database); using that id`,
    });
    return found.id;
  });
  const counts = new Map<string, number>();
  for (const id of proposed) counts.set(id, (counts.get(id) ?? 0) + 1);
  const result = shards.map((shard, i) => {
    const id = proposed[i] ?? shard.id;
    if ((counts.get(id) ?? 0) > 1 && id !== shard.id) {
      notes.push({
        level: 'error',
        shard: shard.id,
        message: `${shard.host}:${shard.port}/${shard.database} and another configured shard are the same database (recorded as "${id}"); list each database once in --shards`,
      });
      return shard;
    }
    return id === shard.id ? shard : { ...shard, id };
  });
  return { shards: result, notes };
}

/** Reads the id recorded in a shard's database, with a short connect timeout. Never throws. */
export async function readRecordedIdentity(shard: ShardConfig, timeoutMs: number): Promise<RecordedIdentity> {
  let connection: mysql.Connection | undefined;
  try {
    connection = await openServerConnection(shard, timeoutMs);
    const [rows] = (await connection.query(
      `SELECT shard_id FROM ${quoteIdentifier(shard.database)}.${SHARD_IDENTITY_TABLE} WHERE singleton = 1`,
    )) as unknown as [Array<{ shard_id: string }>];
    const id = rows[0]?.shard_id;
    return id === undefined ? { kind: 'none' } : { kind: 'recorded', id };
  } catch (error) {
    // No database or no table yet: a new shard, answered by a live server.
    const code = (error as { code?: unknown }).code;
    if (code === 'ER_BAD_DB_ERROR' || code === 'ER_NO_SUCH_TABLE') return { kind: 'none' };
    return { kind: 'unreachable' };
  } finally {
    await connection?.end().catch(() => undefined);
  }
}

/**
 * The configured shards with their recorded identities applied
 * ({@link reconcileShardIds}); asks only unnamed shards' and named shards'
 * databases once each, in parallel, within `timeoutMs`. Logs every note.
 */
export async function resolveShardIds(shards: readonly ShardConfig[], logger: Logger, timeoutMs = 3000): Promise<ShardConfig[]> {
  const recorded = new Map<string, RecordedIdentity>();
  await Promise.all(
    shards.map(async (shard) => {
      recorded.set(shard.id, await readRecordedIdentity(shard, timeoutMs));
    }),
  );
  const { shards: resolved, notes } = reconcileShardIds(shards, recorded);
  for (const note of notes) {
    if (note.level === 'error') logger.error({ shard: note.shard }, note.message);
    else logger.info({ shard: note.shard }, note.message);
  }
  return resolved;
}
