/**
 * The README is the user's door and stays short: details go to docs/. This
 * keeps it under 20,000 bytes, so a new section has to earn its room.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('README.md', () => {
  it('stays under 20,000 bytes', () => {
    expect(Buffer.byteLength(readFileSync('README.md', 'utf8'))).toBeLessThan(20_000);
  });

  it('links only to docs that exist', () => {
    const text = readFileSync('README.md', 'utf8');
    const links = [...text.matchAll(/\]\(((?:docs|bench)\/[^)#]+)(?:#[^)]*)?\)/g)].map((m) => m[1] as string);
    expect(links.length).toBeGreaterThan(5);
    for (const link of links) expect(() => readFileSync(link), link).not.toThrow();
  });
});
