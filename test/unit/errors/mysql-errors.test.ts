import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors/app-error.js';
import { translateMysqlError } from '../../../src/errors/mysql-errors.js';

/** A driver error as mysql2 builds it. */
function driverError(code: string, errno?: number, sqlMessage?: string): Error {
  return Object.assign(new Error(sqlMessage ?? code), { code, errno, sqlMessage });
}

describe('translateMysqlError', () => {
  const context = { shard: 'shard_a', family: 'dogs' };

  it('maps a statement larger than max_allowed_packet to 413 PAYLOAD_TOO_LARGE, by code or by errno', () => {
    for (const error of [driverError('ER_NET_PACKET_TOO_LARGE', 1153), driverError('UNKNOWN', 1153)]) {
      const translated = translateMysqlError(error, context);
      expect(translated.code).toBe('PAYLOAD_TOO_LARGE');
      expect(translated.status).toBe(413);
      expect(translated.message).toMatch(/max_allowed_packet/);
      expect(translated.details).toEqual({ shard: 'shard_a', family: 'dogs' });
    }
  });

  it('keeps its other mappings: connection loss 503, statement timeout 504, user query 400, anything else 500', () => {
    expect(translateMysqlError(driverError('ECONNREFUSED'), context).code).toBe('SHARD_UNAVAILABLE');
    expect(translateMysqlError(driverError('ER_STATEMENT_TIMEOUT', 1969), context).code).toBe('QUERY_TIMEOUT');
    expect(translateMysqlError(driverError('ER_BAD_FIELD_ERROR', 1054, "Unknown column 'x'"), { ...context, userQuery: true }).code).toBe('QUERY_FAILED');
    expect(translateMysqlError(driverError('ER_BAD_FIELD_ERROR', 1054), context).code).toBe('INTERNAL_SERVER_ERROR');
    const own = new AppError('FAMILY_NOT_FOUND', 'no such family', {});
    expect(translateMysqlError(own, context)).toBe(own);
  });
});
