import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { digestStatement } from '../../../src/query/sql-digest.js';
import { lexStatement, validateSql, type SqlLimits } from '../../../src/query/validate-sql.js';
import { ValidationCache } from '../../../src/query/validation-cache.js';

interface Fixture {
  comment: string;
  sql: string;
}

function load(name: string): Fixture[] {
  return JSON.parse(readFileSync(new URL(`../../fixtures/queries/${name}`, import.meta.url), 'utf8')) as Fixture[];
}

/** What validation says about `sql`: the tables, or the error's code and message. */
function verdict(run: () => { tables: string[]; sql: string }): unknown {
  try {
    const { tables, sql } = run();
    return { ok: true, tables, sql };
  } catch (error) {
    const e = error as { code?: unknown; message?: unknown; details?: unknown };
    return { ok: false, code: e.code, message: e.message, details: e.details };
  }
}

const NUMBERS = ['0', '7', '42', '18446744073709551616', '99999999999999999999999999999999999999', '000'];
const STRINGS = ["''", "'x'", "'SELECT'", "'-- a /* b */ # c ; ?'", "' '", "'\n'", "'FROM'", "'dog_registry'", "'raw_logs'", "'\u0001'"];

/** Texts of the same digest as `sql`: every replaced literal set to each value of its class in turn. */
function variants(sql: string): string[] {
  let lexed;
  try {
    lexed = lexStatement(sql);
  } catch {
    return [];
  }
  const { slots } = digestStatement(lexed);
  const out = new Set<string>();
  for (let i = 0; i < NUMBERS.length || i < STRINGS.length; i++) {
    let text = '';
    let at = 0;
    slots.forEach((slot, k) => {
      const pool = slot.kind === 'number' ? NUMBERS : STRINGS;
      text += lexed.sql.slice(at, slot.start) + (pool[(i + k) % pool.length] as string);
      at = slot.end;
    });
    out.add(text + lexed.sql.slice(at));
  }
  return [...out];
}

/** Every text through one cache in order: each answer must be validateSql's own. */
function expectSameAsValidateSql(texts: readonly string[], limits: SqlLimits = {}): void {
  const cache = new ValidationCache(limits);
  for (const text of texts) expect(verdict(() => cache.validate(text)), text).toEqual(verdict(() => validateSql(text, limits)));
}

const ADVERSARIAL = [
  "SELECT * FROM a, 'x'",
  "SELECT * FROM a, 'a'",
  "SELECT * FROM a JOIN b ON a.id = 1, 'c'",
  "SELECT * FROM t WHERE a = 'x\\' OR SLEEP(1) -- '",
  "SELECT * FROM t WHERE a = 'x\\\\' OR SLEEP(1) -- '",
  "SELECT * FROM t WHERE a = 'it''s' OR b = 1",
  "SELECT * FROM t WHERE a = X'0f' OR b = 1",
  "SELECT * FROM t WHERE a = X'zz' OR b = 1",
  "SELECT * FROM t WHERE a = b'01' AND c = 0b11 AND d = 0x1f AND e = 1",
  'SELECT * FROM t WHERE a = -5 AND b = - 3 AND c = 1.5',
  'SELECT * FROM t WHERE a IN (1, 2) OR b IN (1, 2, 3)',
  "SELECT * FROM t WHERE a = '?' AND b = 1",
  "SELECT * FROM t WHERE a = '/*!50000 SLEEP(1) */' AND b = 1",
  "SELECT * FROM t WHERE a = 1 /* ' */ AND b = '*/'",
  'SELECT * FROM t WHERE a = 1 -- ; DROP TABLE t',
  "SELECT * FROM t WHERE a = 1 # ' ",
  'SELECT *\u000bFROM t WHERE a = 1',
  'SELECT * FROM t LIMIT 10',
  'SELECT * FROM t LIMIT 1, 99999999999999999999999',
  "SELECT JSON_EXTRACT(log, '$.a') FROM raw_logs WHERE family = 'x' LIMIT 5",
  'SELECT family, COUNT(*) FROM raw_logs GROUP BY family ORDER BY family LIMIT 3',
  "SELECT * FROM t WHERE a = DATE '2020-01-01' AND b = 1",
  'SELECT CAST(a AS CHAR(10)) FROM t WHERE b = 2',
  'SELECT a FROM t WHERE b BETWEEN 1 AND 5 ORDER BY 1 LIMIT 5 OFFSET 2',
  'SELECT SLEEP(1) FROM t WHERE a = 1',
  "SELECT * FROM t WHERE a = 1 INTO OUTFILE '/tmp/x'",
  'SELECT * FROM t WHERE a = 1 FOR UPDATE',
  'SELECT * FROM mysql.user WHERE a = 1',
  'SELECT @@version, 1 FROM t',
  'SELECT LAST_INSERT_ID(5) FROM t',
  'SELECT * FROM t WHERE a = 1; SELECT 2',
  'SELECT * FROM t WHERE a = 1 --x',
];

describe('ValidationCache answers as validateSql does', () => {
  const fixtures = [...load('accepted.json'), ...load('rejected.json')];
  it.each(fixtures.map((f) => [f.comment, f.sql] as const))('fixture variants: %s', (_comment, sql) => {
    const texts = [sql, ...variants(sql)];
    expectSameAsValidateSql(texts);
    expectSameAsValidateSql([...texts].reverse());
  });

  it.each(ADVERSARIAL.map((sql) => [sql] as const))('adversarial variants: %s', (sql) => {
    const texts = [sql, ...variants(sql)];
    expectSameAsValidateSql(texts);
    expectSameAsValidateSql([...texts].reverse());
  });

  it('refuses a refused query for every literal variant, with an accepted shape cached beside it', () => {
    const cache = new ValidationCache();
    expect(cache.validate("SELECT * FROM t WHERE a = 'x' AND b = 1").tables).toEqual(['t']);
    for (const sql of variants("SELECT SLEEP(1) FROM t WHERE a = 'x' AND b = 1")) {
      expect(verdict(() => cache.validate(sql))).toMatchObject({ ok: false, code: 'QUERY_NOT_READ_ONLY' });
    }
    for (const sql of variants('SELECT * FROM t WHERE a = 1 LIMIT 1 INTO @v')) {
      expect(verdict(() => cache.validate(sql))).toMatchObject({ ok: false, code: 'QUERY_NOT_READ_ONLY' });
    }
  });
});

describe('ValidationCache', () => {
  it('parses once per shape: later texts of the digest come from the cache (no AST)', () => {
    const cache = new ValidationCache();
    const first = cache.validate('SELECT * FROM perf WHERE id = 1');
    expect(first.ast).toBeDefined();
    const second = cache.validate('  SELECT * FROM perf WHERE id = 2 ; ');
    expect({ sql: second.sql, tables: second.tables, ast: second.ast }).toEqual({ sql: 'SELECT * FROM perf WHERE id = 2', tables: ['perf'], ast: undefined });
    // The lexer's code tokens ride along for the row cap, offsets into the untrimmed text.
    expect(second.lexed?.start).toBe(2);
    expect(second.lexed?.code.map((t) => t.text).join(' ')).toBe('SELECT * FROM perf WHERE id = 2');
    expect(cache.size).toBe(1);
    expect(cache.full('SELECT * FROM perf WHERE id = 2').ast).toBeDefined();
  });

  it('does not cache a shape whose tables depend on a literal', () => {
    const cache = new ValidationCache();
    expect(cache.validate("SELECT * FROM a, 'x'").tables).toEqual(['a', 'x']);
    expect(cache.validate("SELECT * FROM a, 'secret'").tables).toEqual(['a', 'secret']);
    expect(cache.validate("SELECT * FROM a, 'a'").tables).toEqual(['a']);
    expect(cache.validate("SELECT * FROM a, 'y'").tables).toEqual(['a', 'y']);
  });

  it('never caches refusals', () => {
    const cache = new ValidationCache();
    expect(() => cache.validate('SELECT SLEEP(1) FROM t')).toThrow();
    expect(() => cache.validate('SELECT * FROM t WHERE a = ?')).toThrow();
    expect(() => cache.validate('SELECT * FRM t WHERE a = 1')).toThrow();
    expect(cache.size).toBe(0);
  });

  it('still applies the length limit to a text of a cached shape', () => {
    const cache = new ValidationCache({ maxLength: 40 });
    expect(cache.validate('SELECT * FROM t WHERE a = 1').tables).toEqual(['t']);
    expect(verdict(() => cache.validate(`SELECT * FROM t WHERE a = ${'9'.repeat(30)}`))).toMatchObject({ ok: false, code: 'QUERY_TOO_COMPLEX' });
  });

  it('is bounded: the least recently used shape goes first', () => {
    const cache = new ValidationCache({}, 2);
    cache.validate('SELECT * FROM a WHERE x = 1');
    cache.validate('SELECT * FROM b WHERE x = 1');
    cache.validate('SELECT * FROM a WHERE x = 2'); // a is now the most recent
    cache.validate('SELECT * FROM c WHERE x = 1');
    expect(cache.size).toBe(2);
    expect(cache.validate('SELECT * FROM a WHERE x = 3').ast).toBeUndefined();
    expect(cache.validate('SELECT * FROM b WHERE x = 3').ast).toBeDefined();
  });

  it('with no entries validates every text in full', () => {
    const cache = new ValidationCache({}, 0);
    cache.validate('SELECT * FROM a WHERE x = 1');
    expect(cache.validate('SELECT * FROM a WHERE x = 2').ast).toBeDefined();
    expect(cache.size).toBe(0);
  });
});
