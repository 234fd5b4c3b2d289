/**
 * The error table in README.md and the registry in codes.ts list the same
 * codes with the same statuses: clients branch on codes, so the documented
 * table must be the registry.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../../src/errors/codes.js';

function readmeCodes(): Map<string, number> {
  const text = readFileSync('README.md', 'utf8');
  const start = text.indexOf('<!-- error-codes:start -->');
  const end = text.indexOf('<!-- error-codes:end -->');
  expect(start).toBeGreaterThan(0);
  expect(end).toBeGreaterThan(start);
  const rows = new Map<string, number>();
  for (const line of text.slice(start, end).split('\n')) {
    const match = /^\| `([A-Z_]+)` \| (\d{3}) \|/.exec(line);
    if (match) rows.set(match[1] as string, Number(match[2]));
  }
  return rows;
}

describe('README error table', () => {
  it('lists exactly the codes of the registry, with the same statuses', () => {
    const documented = readmeCodes();
    expect([...documented.keys()].sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const [code, status] of documented) expect(status).toBe(ERROR_CODES[code as keyof typeof ERROR_CODES]);
  });
});
