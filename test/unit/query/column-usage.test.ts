import { describe, expect, it } from 'vitest';
import { neededColumns } from '../../../src/query/column-usage.js';

const COLUMNS = ['id', 'name', 'breed', 'weight', '_ingested_at'];

describe('neededColumns', () => {
  it('keeps id plus the columns the query names for that table (through aliases)', () => {
    const sql = 'SELECT a.breed, COUNT(*) AS pairs, AVG(b.weight) AS w FROM fa AS a JOIN fb AS b ON b.id = a.id GROUP BY a.breed';
    expect(neededColumns(sql, 'fb', COLUMNS)).toEqual(['id', 'weight']);
    expect(neededColumns(sql, 'fa', COLUMNS)).toEqual(['id', 'breed']);
  });

  it('counts an unqualified column for every table that has it', () => {
    expect(neededColumns('SELECT name FROM fa JOIN fb ON fa.id = fb.id WHERE weight > 3', 'fb', COLUMNS)).toEqual(['id', 'name', 'weight']);
  });

  it('keeps every column for *, t.*, NATURAL and USING, and unparseable text', () => {
    expect(neededColumns('SELECT * FROM fa JOIN fb ON fa.id = fb.id', 'fb', COLUMNS)).toBeNull();
    expect(neededColumns('SELECT b.* FROM fa a JOIN fb b ON a.id = b.id', 'fb', COLUMNS)).toBeNull();
    expect(neededColumns('SELECT name FROM fa JOIN fb USING (weight)', 'fb', COLUMNS)).toBeNull();
    expect(neededColumns('SELECT name FROM fa NATURAL JOIN fb', 'fb', COLUMNS)).toBeNull();
    expect(neededColumns('SELECT ((( FROM', 'fb', COLUMNS)).toBeNull();
  });

  it('ignores the star of another table', () => {
    expect(neededColumns('SELECT a.*, b.weight FROM fa a JOIN fb b ON a.id = b.id', 'fb', COLUMNS)).toEqual(['id', 'weight']);
  });
});
