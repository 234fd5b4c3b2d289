/**
 * The ingest transaction: a request's INSERT statements (idempotency key,
 * typed rows, raw copies) run as one transaction on one multi-statement
 * connection of the family's shard, in as few round trips as the server's
 * max_allowed_packet allows. All or nothing: on any error it is rolled back.
 */
import type { Knex } from 'knex';
import { AppError } from '../errors/app-error.js';
import { execute, withConnection } from './connection.js';
import { DEFAULT_MAX_ALLOWED_PACKET } from './shard-pool.js';

/**
 * One SQL statement as the pieces whose concatenation is its text, and that
 * text's length. Statements stay in pieces until the text of a whole round
 * trip is joined once (transactionRoundTrips): each intermediate join of
 * megabytes of row text would be one more copy, and one more large string
 * that only a full garbage collection frees.
 */
export interface StatementParts {
  parts: string[];
  chars: number;
}

/** A statement given as text, in the form transactionRoundTrips takes. */
export function statementOf(sql: string): StatementParts {
  return { parts: [sql], chars: sql.length };
}

/**
 * The texts to send, one per round trip, to run `statements` as one
 * transaction on a multi-statement session: usually one,
 * `START TRANSACTION;\n<statements>;\nCOMMIT`; split between statements
 * where the text would grow past `maxChars` (a statement longer than that
 * goes alone). The first text opens the transaction and the last commits it.
 * Example: (['A', 'B']) -> ['START TRANSACTION;\nA;\nB;\nCOMMIT'];
 *          (['AAAA', 'BBBB'], 6) -> ['START TRANSACTION;\nAAAA', 'BBBB;\nCOMMIT']
 *          (statements given by statementOf)
 */
export function transactionRoundTrips(statements: readonly StatementParts[], maxChars: number): string[] {
  if (statements.length === 0) return [];
  const texts: string[] = [];
  let pieces: string[] = ['START TRANSACTION'];
  let chars = 0;
  for (const statement of statements) {
    if (chars > 0 && chars + statement.chars > maxChars) {
      texts.push(pieces.join(''));
      pieces = [];
      chars = 0;
    }
    if (pieces.length > 0) pieces.push(';\n');
    for (const part of statement.parts) pieces.push(part);
    chars += statement.chars + 2;
  }
  pieces.push(';\nCOMMIT');
  texts.push(pieces.join(''));
  return texts;
}

/** Room left in a packet for the protocol's own bytes (command byte and headers). */
const PACKET_SLACK_BYTES = 1024;

/**
 * Runs `statements` as one transaction on a multi-statement connection of
 * `knex`, in a single round trip unless the text is larger than one packet of
 * `maxPacketBytes` (the server's max_allowed_packet) can carry; then in
 * several, split between statements (transactionRoundTrips). The server stops
 * at the first failing statement, before COMMIT, so on any error the
 * transaction is rolled back and nothing of it stays.
 * @throws AppError PAYLOAD_TOO_LARGE, before sending anything, when one
 *   statement alone (one huge row) is larger than a packet.
 */
export async function writeInTransaction(
  knex: Knex,
  statements: readonly StatementParts[],
  maxPacketBytes = DEFAULT_MAX_ALLOWED_PACKET,
): Promise<void> {
  const packetBytes = maxPacketBytes - PACKET_SLACK_BYTES;
  // A character is at most 3 UTF-8 bytes: texts this short always fit.
  const safeChars = Math.floor(packetBytes / 3);
  const roundTrips = transactionRoundTrips(statements, safeChars);
  for (const text of roundTrips) {
    const bytes = text.length > safeChars ? Buffer.byteLength(text, 'utf8') : 0;
    if (bytes > packetBytes) {
      throw new AppError(
        'PAYLOAD_TOO_LARGE',
        `an event in this request is too large for the shard: the INSERT holding it is ${bytes} bytes, more than the server's max_allowed_packet (${maxPacketBytes} bytes); shrink the event, or raise max_allowed_packet on the server`,
        { statementBytes: bytes, maxAllowedPacket: maxPacketBytes },
      );
    }
  }
  if (roundTrips.length === 0) return;
  await withConnection(knex, async (connection) => {
    try {
      for (const text of roundTrips) await execute(connection, text);
    } catch (error) {
      await execute(connection, 'ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
}
