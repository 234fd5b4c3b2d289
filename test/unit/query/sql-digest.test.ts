import { describe, expect, it } from 'vitest';
import { digestStatement, probeText } from '../../../src/query/sql-digest.js';
import { lexStatement } from '../../../src/query/validate-sql.js';

function digest(sql: string): ReturnType<typeof digestStatement> {
  return digestStatement(lexStatement(sql));
}

function keyOf(sql: string): string {
  return digest(sql).key;
}

/** The statement text with its slots shown as placeholders (readable expectations). */
function shape(sql: string): string {
  const lexed = lexStatement(sql);
  const { slots } = digestStatement(lexed);
  let out = '';
  let at = 0;
  for (const slot of slots) {
    out += lexed.sql.slice(at, slot.start) + (slot.kind === 'number' ? 'N' : 'S');
    at = slot.end;
  }
  return out + lexed.sql.slice(at);
}

describe('digestStatement: what shares a digest', () => {
  it.each([
    ['SELECT * FROM t WHERE id = 1', 'SELECT * FROM t WHERE id = 987654321'],
    ['SELECT * FROM t WHERE id = 1', 'SELECT * FROM t WHERE id = 99999999999999999999999999999999999999'],
    ["SELECT * FROM t WHERE breed = 'lab'", "SELECT * FROM t WHERE breed = 'golden retriever'"],
    ["SELECT * FROM t WHERE breed = 'lab'", "SELECT * FROM t WHERE breed = ''"],
    ["SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = '-- not a comment /* nor this */ # ; ?'"],
    ["SELECT * FROM t WHERE a LIKE 'x%'", "SELECT * FROM t WHERE a LIKE '%y'"],
    ['SELECT * FROM t LIMIT 5, 10', 'SELECT * FROM t LIMIT 0, 1000000'],
    ['SELECT * FROM t WHERE a IN (1, 2, 3)', 'SELECT * FROM t WHERE a IN (4, 5, 6)'],
    ['SELECT * FROM t WHERE a = -5', 'SELECT * FROM t WHERE a = -6'],
    ['SELECT * FROM t WHERE a = 1', 'SELECT  *  FROM t WHERE a =   1'],
    ['SELECT * FROM t WHERE a = 1', 'SELECT * /* why */ FROM t WHERE a = 1'],
    ['SELECT * FROM t WHERE a = 1;', 'SELECT * FROM t WHERE a = 2 ; -- trailing'],
    ['SELECT id, name FROM f WHERE breed = \'a\' AND weight > 10 AND id <= 55 ORDER BY id DESC LIMIT 100', "SELECT id, name FROM f WHERE breed = 'b' AND weight > 10 AND id <= 56 ORDER BY id DESC LIMIT 100"],
  ])('%s ~ %s', (a, b) => {
    expect(keyOf(a)).toBe(keyOf(b));
  });
});

describe('digestStatement: what does not', () => {
  it.each([
    ['identifiers', 'SELECT * FROM t1 WHERE id = 1', 'SELECT * FROM t2 WHERE id = 1'],
    ['quoted identifiers', 'SELECT * FROM `a b` WHERE id = 1', 'SELECT * FROM `a c` WHERE id = 1'],
    ['keyword case', 'select * from t where id = 1', 'SELECT * FROM t WHERE id = 1'],
    ['a number and a string', 'SELECT * FROM t WHERE id = 1', "SELECT * FROM t WHERE id = '1'"],
    ['a string and a quoted identifier', "SELECT * FROM t WHERE id = '?'", 'SELECT * FROM t WHERE id = `?`'],
    ['a number and a punctuation character', 'SELECT * FROM t WHERE id = 1', 'SELECT * FROM t WHERE id = \u0001'],
    ['a negative and a positive number', 'SELECT * FROM t WHERE a = -5', 'SELECT * FROM t WHERE a = 5'],
    ['IN lists of different lengths', 'SELECT * FROM t WHERE a IN (1, 2)', 'SELECT * FROM t WHERE a IN (1, 2, 3)'],
    ['strings with a backslash', "SELECT * FROM t WHERE a = 'x\\'y'", "SELECT * FROM t WHERE a = 'x\\'z'"],
    ['strings with a doubled quote', "SELECT * FROM t WHERE a = 'it''s'", "SELECT * FROM t WHERE a = 'it''z'"],
    ['strings with a double quote', "SELECT * FROM t WHERE a = 'a\"b'", "SELECT * FROM t WHERE a = 'a\"c'"],
    ['double-quoted strings', 'SELECT * FROM t WHERE a = "x"', 'SELECT * FROM t WHERE a = "y"'],
    ['hex literals', "SELECT * FROM t WHERE a = X'0f'", "SELECT * FROM t WHERE a = X'1f'"],
    ['bad and good hex literals', "SELECT * FROM t WHERE a = X'0f'", "SELECT * FROM t WHERE a = X'zz'"],
    ['bit literals', "SELECT * FROM t WHERE a = b'01'", "SELECT * FROM t WHERE a = b'10'"],
    ['0x numbers', 'SELECT * FROM t WHERE a = 0x10', 'SELECT * FROM t WHERE a = 0x11'],
    ['0b numbers', 'SELECT * FROM t WHERE a = 0b10', 'SELECT * FROM t WHERE a = 0b11'],
    ['exponents', 'SELECT * FROM t WHERE a = 1e5', 'SELECT * FROM t WHERE a = 1e6'],
    ['date literals', "SELECT * FROM t WHERE a = DATE '2020-01-01'", "SELECT * FROM t WHERE a = DATE '2020-01-02'"],
    ['charset introducers', "SELECT * FROM t WHERE a = _utf8mb4 'x'", "SELECT * FROM t WHERE a = _utf8mb4 'y'"],
    ['national strings', "SELECT * FROM t WHERE a = N'x'", "SELECT * FROM t WHERE a = N'y'"],
    ['a string where a table goes', "SELECT * FROM 'x'", "SELECT * FROM 'y'"],
    ['aliases', "SELECT a AS 'x' FROM t", "SELECT a AS 'y' FROM t"],
    ['ESCAPE strings', "SELECT * FROM t WHERE a LIKE 'x' ESCAPE '!'", "SELECT * FROM t WHERE a LIKE 'x' ESCAPE '$'"],
    ['a number glued to a string', "SELECT 5'a' FROM t", "SELECT 6'a' FROM t"],
    ['a space and a tab', 'SELECT * FROM t WHERE a = 1', 'SELECT *\tFROM t WHERE a = 1'],
    ['a space and a vertical tab (the parser refuses \\v)', 'SELECT * FROM t', 'SELECT *\u000bFROM t'],
    ['a gap and none', 'SELECT 1.5 FROM t', 'SELECT 1 .5 FROM t'],
    ['digits after a point', 'SELECT 1.5 FROM t', 'SELECT 1.6 FROM t'],
    ['comment and code', 'SELECT * FROM t WHERE a = 1 /* x */', 'SELECT * FROM t WHERE a = 1 AND b = 2'],
  ])('%s', (_what, a, b) => {
    expect(keyOf(a)).not.toBe(keyOf(b));
  });
});

describe('digestStatement: slots', () => {
  it.each([
    ['SELECT * FROM perf_dog_registry WHERE id = 4711', 'SELECT * FROM perf_dog_registry WHERE id = N'],
    ["SELECT id FROM f WHERE breed = 'lab' AND weight > 10 AND id <= 9 ORDER BY id DESC LIMIT 100", 'SELECT id FROM f WHERE breed = S AND weight > N AND id <= N ORDER BY id DESC LIMIT N'],
    ['SELECT a FROM t WHERE a IN (1,2,3) LIMIT 5 OFFSET 10', 'SELECT a FROM t WHERE a IN (N,N,N) LIMIT N OFFSET N'],
    ['SELECT a - -5, 1.25 FROM t', 'SELECT a - -N, N.25 FROM t'],
    ["SELECT JSON_EXTRACT(log, '$.a') FROM raw_logs", 'SELECT JSON_EXTRACT(log, S) FROM raw_logs'],
    ["SELECT * FROM t WHERE a = X'0f' OR b = 0x1f OR c = b'1' OR d = 1e3 OR e = \"q\"", "SELECT * FROM t WHERE a = X'0f' OR b = 0x1f OR c = b'1' OR d = 1e3 OR e = \"q\""],
    ["SELECT * FROM t WHERE a = 'x\\\\' OR b = 'it''s'", "SELECT * FROM t WHERE a = 'x\\\\' OR b = 'it''s'"],
    ["SELECT * FROM a, 'x' WHERE k = 2", "SELECT * FROM a, S WHERE k = N"],
    ['SELECT * FROM t2 WHERE c3 = 4', 'SELECT * FROM t2 WHERE c3 = N'],
    ['  SELECT 1 ; ', 'SELECT N'],
  ])('%s', (sql, expected) => {
    expect(shape(sql)).toBe(expected);
  });

  it('gives offsets in the trimmed statement text', () => {
    const lexed = lexStatement('   SELECT * FROM t WHERE id = 42;');
    const { slots } = digestStatement(lexed);
    expect(slots).toEqual([{ kind: 'number', start: 27, end: 29 }]);
    expect(lexed.sql.slice(27, 29)).toBe('42');
  });
});

describe('probeText', () => {
  it('changes every slot to another value of its class, and nothing else', () => {
    const lexed = lexStatement("SELECT * FROM t WHERE id = 2 AND b = 'databalancer_probe' AND c = 'x' LIMIT 10");
    const probe = probeText(lexed.sql, digestStatement(lexed).slots);
    expect(probe).toBe("SELECT * FROM t WHERE id = 3 AND b = 'probe' AND c = 'databalancer_probe' LIMIT 2");
    expect(keyOf(probe)).toBe(digestStatement(lexed).key);
  });
});
