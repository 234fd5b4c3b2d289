/**
 * The shard error mappings name the right thing: a connection failure is
 * SHARD_UNAVAILABLE with a reason, bad credentials say so, a driver error
 * that is not a connection failure (mysql2 marks some parser errors fatal) is
 * never SHARD_UNAVAILABLE, a killed statement names its shard, and the
 * gateway's own deadlines are 504 for queries and 503 for writes.
 */
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors/app-error.js';
import { aggregateErrors } from '../../../src/errors/aggregate.js';
import { isUnavailableError, noAnswerError, translateMysqlError } from '../../../src/errors/mysql-errors.js';

function driverError(code: string | undefined, errno?: number, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(String(extra['sqlMessage'] ?? code)), { code, errno, ...extra });
}

describe('shard error mappings', () => {
  const context = { shard: 'shard_b' };

  it('wrong credentials (1045): 503 SHARD_UNAVAILABLE, reason authentication_failed, telling to check that shard’s user and password', () => {
    const error = driverError('ER_ACCESS_DENIED_ERROR', 1045, {
      sqlMessage: "Access denied for user 'gw'@'localhost' (using password: YES)",
      fatal: true,
    });
    const translated = translateMysqlError(error, context);
    expect(translated.code).toBe('SHARD_UNAVAILABLE');
    expect(translated.details).toMatchObject({ shard: 'shard_b', reason: 'authentication_failed' });
    expect(translated.message).toMatch(/shard "shard_b"/);
    expect(translated.message).toMatch(/user and password/);
    expect(translated.message).not.toMatch(/unreachable/);
    // By errno alone too.
    expect(translateMysqlError(driverError(undefined, 1045), context).details['reason']).toBe('authentication_failed');
  });

  it('a fatal driver error that is not a connection failure is never SHARD_UNAVAILABLE', () => {
    // What mysql2 throws from its row parser (a result column named __proto__, ...): fatal, no connection code.
    const parser = Object.assign(new TypeError("Cannot set properties of undefined (setting 'x')"), { fatal: true });
    expect(isUnavailableError(parser)).toBe(false);
    expect(translateMysqlError(parser, context).code).toBe('INTERNAL_SERVER_ERROR');
    expect(translateMysqlError(parser, { ...context, userQuery: true }).code).toBe('INTERNAL_SERVER_ERROR');
    const unknownFatal = driverError('PROTOCOL_INCORRECT_PACKET_SEQUENCE', undefined, { fatal: true });
    expect(translateMysqlError(unknownFatal, context).code).not.toBe('SHARD_UNAVAILABLE');
  });

  it('connection failures keep 503 with a reason that says what happened', () => {
    expect(translateMysqlError(driverError('ECONNREFUSED'), context).details).toMatchObject({ shard: 'shard_b', reason: 'unreachable' });
    expect(translateMysqlError(driverError('PROTOCOL_CONNECTION_LOST', undefined, { fatal: true }), context).details).toMatchObject({ reason: 'connection_lost' });
    const killed = translateMysqlError(driverError('ER_CONNECTION_KILLED', 1927), context);
    expect(killed.code).toBe('SHARD_UNAVAILABLE');
    expect(killed.details['reason']).toBe('connection_killed');
    expect(killed.message).toMatch(/shard "shard_b"/);
  });

  it('a statement killed on the server (1317) is 503 naming that shard, reason statement_killed, even for a user query', () => {
    for (const userQuery of [false, true]) {
      const translated = translateMysqlError(driverError('ER_QUERY_INTERRUPTED', 1317), { ...context, userQuery });
      expect(translated.code).toBe('SHARD_UNAVAILABLE');
      expect(translated.details).toMatchObject({ shard: 'shard_b', reason: 'statement_killed' });
    }
  });

  it('a pool timeout is 503 pool_timeout', () => {
    const timeout = Object.assign(new Error('Knex: Timeout acquiring a connection.'), { name: 'KnexTimeoutError' });
    expect(translateMysqlError(timeout, context).details).toMatchObject({ shard: 'shard_b', reason: 'pool_timeout' });
  });

  it("the gateway's own deadline: 504 QUERY_TIMEOUT for a query, 503 no_answer for a write", () => {
    const query = translateMysqlError(noAnswerError('query', 12_000), context);
    expect(query.code).toBe('QUERY_TIMEOUT');
    expect(query.details).toMatchObject({ shard: 'shard_b' });
    const write = translateMysqlError(noAnswerError('write', 30_000), context);
    expect(write.code).toBe('SHARD_UNAVAILABLE');
    expect(write.details).toMatchObject({ shard: 'shard_b', reason: 'no_answer' });
    expect(write.message).toMatch(/write_timeout_ms/);
  });

  it('aggregating a timeout and an unavailable shard keeps a registered 5xx code with every shard', () => {
    const merged = aggregateErrors([
      new AppError('SHARD_UNAVAILABLE', 'x', { shard: 'a', reason: 'pool_timeout' }),
      new AppError('QUERY_TIMEOUT', 'y', { shard: 'b' }),
    ]);
    expect(['SHARD_UNAVAILABLE', 'QUERY_TIMEOUT']).toContain(merged.code);
    expect(merged.details['shards']).toEqual(['a', 'b']);
  });
});
