import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors/app-error.js';
import { tokenizeSql, validateSql, DEFAULT_MAX_TOKENS, MAX_SQL_LENGTH } from '../../../src/query/validate-sql.js';
import { appErrorOf } from '../../helpers/app-error.js';

interface AcceptedFixture {
  comment: string;
  sql: string;
  expect: { tables: string[] };
}
interface RejectedFixture {
  comment: string;
  sql: string;
  expect: { code: string } & Record<string, unknown>;
}

function load<T>(name: string): T[] {
  return JSON.parse(readFileSync(new URL(`../../fixtures/queries/${name}`, import.meta.url), 'utf8')) as T[];
}

const accepted = load<AcceptedFixture>('accepted.json');
const rejected = load<RejectedFixture>('rejected.json');

describe('validateSql fixtures', () => {
  it('has enough cases', () => {
    expect(accepted.length).toBeGreaterThanOrEqual(30);
    expect(rejected.length).toBeGreaterThanOrEqual(40);
  });

  it.each(accepted.map((f) => [f.comment, f] as const))('accepts: %s', (_comment, fixture) => {
    const result = validateSql(fixture.sql);
    expect(result.tables).toEqual(fixture.expect.tables);
    // The statement is the user's own text: a prefix of the trimmed input.
    expect(fixture.sql.trimStart().startsWith(result.sql)).toBe(true);
    expect(result.sql.trim()).toBe(result.sql);
    expect(result.sql.endsWith(';')).toBe(false);
  });

  it.each(rejected.map((f) => [f.comment, f] as const))('rejects: %s', (_comment, fixture) => {
    const error = appErrorOf(() => validateSql(fixture.sql));
    const { code, ...details } = fixture.expect;
    expect(error.code).toBe(code);
    expect(error.details).toMatchObject(details);
    expect(error.message).not.toMatch(/\n\s+at /);
  });
});

describe('validateSql', () => {
  it('returns the trimmed text without trailing semicolons and comments, otherwise unchanged', () => {
    expect(validateSql('  \n SELECT  *  FROM `dog_registry` ;; -- bye\n # again\n').sql).toBe(
      'SELECT  *  FROM `dog_registry`',
    );
    expect(validateSql('/* lead */ SELECT 1 /* tail */').sql).toBe('/* lead */ SELECT 1');
    expect(validateSql('select * from t where a = "x;y"').sql).toBe('select * from t where a = "x;y"');
  });

  it('refuses non-strings as BAD_USER_INPUT and oversized text as QUERY_TOO_COMPLEX', () => {
    for (const input of [undefined, null, 42, {}, ['SELECT 1']]) {
      expect(appErrorOf(() => validateSql(input)).code).toBe('BAD_USER_INPUT');
    }
    const long = `SELECT 1${' '.repeat(MAX_SQL_LENGTH)}`;
    expect(appErrorOf(() => validateSql(long)).code).toBe('QUERY_TOO_COMPLEX');
    expect(validateSql(`SELECT 1${' '.repeat(MAX_SQL_LENGTH - 8)}`).sql).toBe('SELECT 1');
    expect(appErrorOf(() => validateSql('SELECT 1\u0000')).code).toBe('BAD_USER_INPUT');
  });

  it('bounds the text by query_max_length before tokenizing, naming the flag', () => {
    const error = appErrorOf(() => validateSql('SELECT 12345', { maxLength: 10 }));
    expect(error.code).toBe('QUERY_TOO_COMPLEX');
    expect(error.message).toContain('query_max_length');
    expect(error.message).toContain('12 characters');
    expect(error.details).toMatchObject({ reason: 'too_long', length: 12, max: 10 });
    expect(validateSql('SELECT 1234', { maxLength: 11 }).sql).toBe('SELECT 1234');
  });

  it('bounds the code tokens by query_max_tokens before parsing (comments and spaces do not count)', () => {
    // SELECT 1 , 1 , 1 : 6 code tokens
    expect(validateSql('SELECT 1, 1, 1 /* a long comment */', { maxTokens: 6 }).sql).toBe('SELECT 1, 1, 1');
    const error = appErrorOf(() => validateSql('SELECT 1, 1, 1, 1', { maxTokens: 6 }));
    expect(error.code).toBe('QUERY_TOO_COMPLEX');
    expect(error.message).toContain('query_max_tokens');
    expect(error.details).toMatchObject({ reason: 'too_many_tokens', max: 6 });
    // The default is DEFAULT_MAX_TOKENS: a 98 KB "SELECT 1,1,..." never reaches the parser.
    const wide = `SELECT ${Array.from({ length: 49_000 }, () => '1').join(',')}`;
    expect(appErrorOf(() => validateSql(wide)).code).toBe('QUERY_TOO_COMPLEX');
    expect(DEFAULT_MAX_TOKENS).toBe(5000);
  });

  it.each([
    ['45,000 added terms', `SELECT ${Array.from({ length: 45_000 }, () => '1').join('+')}`],
    ['a 3,000-part UNION ALL', Array.from({ length: 3000 }, () => 'SELECT 1').join(' UNION ALL ')],
    ['5,000 nested parentheses', `SELECT ${'('.repeat(5000)}1${')'.repeat(5000)}`],
    ['3,000 nested function calls', `SELECT ${'ABS('.repeat(3000)}1${')'.repeat(3000)}`],
  ])('answers %s (past the parser\'s stack) as QUERY_TOO_COMPLEX, not a RangeError', (_label, sql) => {
    const error = appErrorOf(() => validateSql(sql, { maxLength: 1_000_000, maxTokens: 1_000_000 }));
    expect(error.code).toBe('QUERY_TOO_COMPLEX');
    expect(error.message).not.toMatch(/call stack|RangeError/i);
    expect(error.message).toMatch(/simplify/);
  });

  it('names the refused function in message and details', () => {
    const error = appErrorOf(() => validateSql('SELECT * FROM t WHERE id = (SELECT sleep(3))'));
    expect(error.code).toBe('QUERY_NOT_READ_ONLY');
    expect(error.message).toContain('function SLEEP is not allowed in queries');
    expect(error.details).toEqual({ reason: 'forbidden_function', function: 'SLEEP' });
  });

  it('tells the user to drop the database name from a qualified table', () => {
    const error = appErrorOf(() => validateSql('SELECT * FROM databalancer.dog_registry'));
    expect(error.code).toBe('QUERY_TABLE_FORBIDDEN');
    expect(error.message).toContain('"dog_registry"');
    expect(error.details).toMatchObject({ table: 'databalancer.dog_registry' });
  });

  it('reports the parser position without a stack trace', () => {
    const error = appErrorOf(() => validateSql('SELECT * FROM t WHERE'));
    expect(error.code).toBe('QUERY_PARSE_FAILED');
    expect(error.message).toMatch(/offset \d+/);
    expect(error.message).toContain('Check the SQL syntax');
    expect(typeof error.details.offset).toBe('number');
  });

  it('treats a CTE name as a table only outside the CTE body', () => {
    expect(validateSql('WITH x AS (SELECT * FROM x) SELECT * FROM x').tables).toEqual(['x']);
    expect(validateSql('WITH x AS (SELECT 1 AS a) SELECT * FROM x UNION SELECT * FROM x').tables).toEqual([]);
    expect(validateSql('WITH x AS (SELECT 1 AS a) SELECT * FROM y WHERE a IN (SELECT a FROM x)').tables).toEqual(['y']);
  });

  it('does not see code inside comments, and does not miss code after them', () => {
    expect(validateSql('SELECT 1 -- SLEEP(1)\nFROM t').tables).toEqual(['t']);
    expect(appErrorOf(() => validateSql('SELECT 1 # x\n, SLEEP(1)')).details).toMatchObject({ function: 'SLEEP' });
    expect(appErrorOf(() => validateSql('SELECT 1 /* x */ , SLEEP(1)')).details).toMatchObject({ function: 'SLEEP' });
    // The server ends a "#" comment only at "\n": a lone "\r" does not end it.
    expect(validateSql('SELECT 1 # x\r, SLEEP(1)\nFROM t').tables).toEqual(['t']);
  });

  it('keeps comment markers inside strings and identifiers as data', () => {
    expect(validateSql("SELECT '/*!', \"--x\", `#` FROM t").tables).toEqual(['t']);
    // A backslash escapes the quote (default sql_mode), so this is one string...
    expect(validateSql("SELECT '\\' /*!50000 */'").tables).toEqual([]);
    // ...while an escaped backslash ends the string before the executable comment.
    expect(appErrorOf(() => validateSql("SELECT '\\\\' /*!50000 */")).details).toMatchObject({
      reason: 'executable_comment',
    });
  });
});

describe('tokenizeSql', () => {
  it('splits strings, identifiers, comments and punctuation like the server', () => {
    const tokens = tokenizeSql("SELECT 'a''b\\'c', `x``y` -- c\n;#d");
    expect(tokens.map((t) => [t.kind, t.text])).toEqual([
      ['word', 'SELECT'],
      ['space', ' '],
      ['string', "'a''b\\'c'"],
      ['punct', ','],
      ['space', ' '],
      ['quoted_ident', '`x``y`'],
      ['space', ' '],
      ['comment', '-- c'],
      ['space', '\n'],
      ['punct', ';'],
      ['comment', '#d'],
    ]);
  });

  it('treats "--" at the very end as a comment', () => {
    expect(tokenizeSql('SELECT 1 --').at(-1)).toMatchObject({ kind: 'comment', text: '--' });
  });
});
