import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { familyMatcher, globMatches, parseTokens, sha256, type TokenSet } from '../../../src/config/tokens.js';
import { appErrorOf } from '../../helpers/app-error.js';

const SOURCE = '/etc/databalancer/tokens.json';
const hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

function parse(value: unknown): TokenSet {
  return parseTokens(typeof value === 'string' ? value : JSON.stringify(value), SOURCE);
}

/** Parses expecting CONFIG_INVALID; returns its problems (each prefixed by the file). */
function problemsOf(value: unknown): string[] {
  const error = appErrorOf(() => parse(value));
  expect(error.code).toBe('CONFIG_INVALID');
  const problems = error.details['problems'] as string[];
  expect(Array.isArray(problems)).toBe(true);
  expect(problems.length).toBeGreaterThan(0);
  for (const p of problems) {
    expect(p.startsWith(`tokens file ${SOURCE}: `)).toBe(true);
    expect(error.message).toContain(p);
  }
  return problems.map((p) => p.slice(`tokens file ${SOURCE}: `.length));
}

const valid = {
  tokens: [
    { name: 'shipper', token: 's3cr3t-plain-value', scopes: ['ingest'], families: ['osquery_*', 'dog_registry'] },
    { name: 'analyst', sha256: hex('analyst-token'), scopes: ['query'] },
    { name: 'ops', sha256: hex('ops-token').toUpperCase(), scopes: ['admin', 'metrics'], limits: { requests_per_minute: 600, events_per_minute: 1_000_000 } },
  ],
};

describe('parseTokens: a valid file', () => {
  it('parses the example of the issue', () => {
    const set = parse(valid);
    expect(set.tokens.map((t) => t.name)).toEqual(['shipper', 'analyst', 'ops']);
    const [shipper, analyst, ops] = set.tokens;
    expect(shipper?.scopes).toEqual(['ingest']);
    expect(shipper?.families).toEqual(['osquery_*', 'dog_registry']);
    expect(shipper?.limits).toEqual({ requestsPerMinute: null, eventsPerMinute: null });
    expect(analyst?.families).toBeNull();
    expect(ops?.limits).toEqual({ requestsPerMinute: 600, eventsPerMinute: 1_000_000 });
    expect(ops?.scopes).toEqual(['admin', 'metrics']);
  });

  it('hashes plain tokens at load; sha256 entries keep their digest (hex in any case)', () => {
    const set = parse(valid);
    expect(set.tokens[0]?.digest.equals(createHash('sha256').update('s3cr3t-plain-value').digest())).toBe(true);
    expect(set.tokens[1]?.digest.toString('hex')).toBe(hex('analyst-token'));
    expect(set.tokens[2]?.digest.toString('hex')).toBe(hex('ops-token'));
    expect(sha256('ops-token').toString('hex')).toBe(hex('ops-token'));
  });

  it('keeps no plain secret in the parsed set', () => {
    const set = parse(valid);
    expect(JSON.stringify(set)).not.toContain('s3cr3t-plain-value');
    expect(Object.keys(set.tokens[0] ?? {})).not.toContain('token');
  });

  it('treats a pattern of only stars as every family', () => {
    expect(parse({ tokens: [{ name: 'a', token: 'x1', scopes: ['query'], families: ['dogs', '*'] }] }).tokens[0]?.families).toBeNull();
  });

  it('hashes UTF-8 bytes and accepts a byte-order mark', () => {
    const set = parseTokens(`\uFEFF${JSON.stringify({ tokens: [{ name: 'a', token: 'abc', scopes: ['metrics'] }] })}`, SOURCE);
    expect(set.tokens[0]?.digest.toString('hex')).toBe(hex('abc'));
  });

  it('returns a frozen set', () => {
    const set = parse(valid);
    expect(Object.isFrozen(set)).toBe(true);
    expect(Object.isFrozen(set.tokens)).toBe(true);
    expect(Object.isFrozen(set.tokens[0])).toBe(true);
  });
});

describe('parseTokens: each invalid file is CONFIG_INVALID with a precise problem', () => {
  const entry = (extra: Record<string, unknown>): unknown => ({ tokens: [{ name: 'a', token: 'tok-a', scopes: ['query'], ...extra }] });

  it.each<[string, unknown, string]>([
    ['not JSON', '{"tokens": [', 'is not valid JSON'],
    ['not an object', '[]', 'must be a JSON object like {"tokens": [...]}'],
    ['no tokens key', {}, '"tokens" is missing'],
    ['tokens not a list', { tokens: {} }, '"tokens" must be a list'],
    ['an empty list', { tokens: [] }, 'lists no tokens'],
    ['an unknown top-level key', { tokens: [{ name: 'a', token: 't', scopes: ['query'] }], users: [] }, 'unknown key "users"; the file has only "tokens"'],
    ['an entry not an object', { tokens: ['abc'] }, 'tokens[0] must be an object'],
    ['an unknown key', entry({ scope: ['query'] }), 'tokens[0] ("a"): unknown key "scope"; allowed keys are name, token, sha256, scopes, families, limits'],
    ['no name', { tokens: [{ token: 't', scopes: ['query'] }] }, 'tokens[0]: "name" is missing'],
    ['an empty name', entry({ name: '' }), 'tokens[0]: "name" must be 1-64 letters, digits'],
    ['a name with spaces', entry({ name: 'my token' }), 'tokens[0]: "name" must be 1-64 letters, digits'],
    ['neither token nor sha256', { tokens: [{ name: 'a', scopes: ['query'] }] }, 'tokens[0] ("a"): give the token as "token" (plain) or "sha256"'],
    ['both token and sha256', entry({ sha256: hex('tok-a') }), 'tokens[0] ("a"): give either "token" or "sha256", not both'],
    ['an empty token', entry({ token: '' }), 'tokens[0] ("a"): "token" is empty'],
    ['a token with a space', entry({ token: 'two words' }), 'tokens[0] ("a"): "token" must be visible ASCII characters without spaces'],
    ['a token not a string', entry({ token: 12345 }), 'tokens[0] ("a"): "token" must be a string'],
    ['a short sha256', { tokens: [{ name: 'a', sha256: 'abc123', scopes: ['query'] }] }, 'tokens[0] ("a"): "sha256" must be 64 hex digits (the SHA-256 of the token), got 6 characters'],
    ['a non-hex sha256', { tokens: [{ name: 'a', sha256: 'z'.repeat(64), scopes: ['query'] }] }, 'tokens[0] ("a"): "sha256" must be 64 hex digits'],
    ['no scopes', { tokens: [{ name: 'a', token: 't' }] }, 'tokens[0] ("a"): "scopes" is missing; give a list of ingest, query, admin, metrics'],
    ['empty scopes', entry({ scopes: [] }), 'tokens[0] ("a"): "scopes" is empty; give at least one of ingest, query, admin, metrics'],
    ['an unknown scope', entry({ scopes: ['query', 'write'] }), 'tokens[0] ("a"): unknown scope "write"; scopes are ingest, query, admin, metrics'],
    ['scopes not a list', entry({ scopes: 'query' }), 'tokens[0] ("a"): "scopes" must be a list'],
    ['families not a list', entry({ families: 'dogs' }), 'tokens[0] ("a"): "families" must be a list of family names or * globs'],
    ['empty families', entry({ families: [] }), 'tokens[0] ("a"): "families" is empty; leave it out for every family'],
    ['a bad glob', entry({ families: ['dogs', 'osquery-*'] }), 'tokens[0] ("a"): family pattern "osquery-*" must be 1-64 letters, digits, underscores or *'],
    ['a glob not a string', entry({ families: [7] }), 'tokens[0] ("a"): family pattern 7 must be 1-64 letters, digits, underscores or *'],
    ['a too long glob', entry({ families: ['a'.repeat(65)] }), 'must be 1-64 letters, digits, underscores or *'],
    ['limits not an object', entry({ limits: 5 }), 'tokens[0] ("a"): "limits" must be an object like {"requests_per_minute": 600'],
    ['an unknown limit', entry({ limits: { requests_per_second: 5 } }), 'tokens[0] ("a"): unknown limit "requests_per_second"; limits are requests_per_minute, events_per_minute'],
    ['a zero limit', entry({ limits: { requests_per_minute: 0 } }), 'tokens[0] ("a"): limits.requests_per_minute must be a positive integer, got 0'],
    ['a fractional limit', entry({ limits: { events_per_minute: 1.5 } }), 'tokens[0] ("a"): limits.events_per_minute must be a positive integer, got 1.5'],
    ['a text limit', entry({ limits: { events_per_minute: '100' } }), 'tokens[0] ("a"): limits.events_per_minute must be a positive integer, got "100"'],
    ['an inherited name as a limit', entry({ limits: { constructor: 5 } }), 'tokens[0] ("a"): unknown limit "constructor"'],
    ['__proto__ as a limit', '{"tokens": [{"name": "a", "token": "t", "scopes": ["query"], "limits": {"__proto__": 5}}]}', 'unknown limit "__proto__"'],
    ['__proto__ as a key', '{"tokens": [{"name": "a", "token": "t", "scopes": ["query"], "__proto__": {"x": 1}}]}', 'unknown key "__proto__"'],
    ['an inherited name as a scope', entry({ scopes: ['toString'] }), 'unknown scope "toString"'],
    ['a negative limit', entry({ limits: { requests_per_minute: -3 } }), 'limits.requests_per_minute must be a positive integer, got -3'],
  ])('%s', (_label, value, expected) => {
    const problems = problemsOf(value);
    expect(problems.some((p) => p.includes(expected)), `${JSON.stringify(problems)} should include ${expected}`).toBe(true);
  });

  it('names duplicate names', () => {
    const problems = problemsOf({ tokens: [
      { name: 'a', token: 't1', scopes: ['query'] },
      { name: 'a', token: 't2', scopes: ['query'] },
    ] });
    expect(problems).toEqual(['tokens[1] ("a"): name "a" is already used by tokens[0]; names must be unique']);
  });

  it('names duplicate tokens, plain or hashed alike, without showing them', () => {
    const problems = problemsOf({ tokens: [
      { name: 'a', token: 'same-secret', scopes: ['query'] },
      { name: 'b', sha256: hex('same-secret'), scopes: ['ingest'] },
    ] });
    expect(problems).toEqual(['tokens[1] ("b"): has the same token as tokens[0] ("a"); every token must be different']);
  });

  it('lists every problem of the file at once', () => {
    const problems = problemsOf({ tokens: [
      { name: 'a', token: '', scopes: ['query'] },
      { name: 'b', token: 'tb', scopes: ['root'], families: ['x-y'] },
      { name: 'c', sha256: '00', scopes: ['query'], limits: { requests_per_minute: 0 } },
    ] });
    expect(problems).toHaveLength(5);
  });

  it('never echoes a secret: not in problems, nor in a JSON syntax error', () => {
    const secret = 'very-secret-token-value';
    const cases = [
      `{"tokens": [{"name": "a", "token": "${secret}", "scopes": ["query"]},]}`,
      `{"tokens": [{"name": "a", "token": "${secret}" "scopes": ["query"]}]}`,
      JSON.stringify({ tokens: [{ name: 'a', token: secret, scopes: ['bogus'], oops: 1 }, { name: 'b', token: secret, scopes: ['query'] }] }),
      JSON.stringify({ tokens: [{ name: 'a', token: `${secret} x`, scopes: ['query'] }] }),
      JSON.stringify({ tokens: [{ name: 'a', sha256: `${secret}`, scopes: ['query'] }] }),
    ];
    for (const text of cases) {
      const error = appErrorOf(() => parseTokens(text, SOURCE));
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.message).not.toContain('secret');
      expect(JSON.stringify(error.details)).not.toContain('secret');
    }
  });

  it('gives the line and column of a JSON syntax error', () => {
    const problems = problemsOf('{\n  "tokens": [\n    {"name": "a",, }\n  ]\n}');
    expect(problems[0]).toMatch(/is not valid JSON .*line 3 column \d+/);
  });
});

describe('family globs', () => {
  it.each<[string, string, boolean]>([
    ['dog_registry', 'dog_registry', true],
    ['dog_registry', 'dog_registry2', false],
    ['dog_registry', 'Dog_registry', false],
    ['osquery_*', 'osquery_', true],
    ['osquery_*', 'osquery_processes', true],
    ['osquery_*', 'osquery', false],
    ['osquery_*', 'xosquery_a', false],
    ['*_prod', 'web_prod', true],
    ['*_prod', 'web_prod_eu', false],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'a_x_b_y_c', true],
    ['a*b*c', 'a_x_c', false],
    ['*', 'anything_9', true],
  ])('%s matches %s: %s', (pattern, family, expected) => {
    expect(globMatches(pattern, family)).toBe(expected);
  });

  it('familyMatcher: null allows every family; a list allows what any pattern matches', () => {
    expect(familyMatcher(null)('x')).toBe(true);
    const m = familyMatcher(['osquery_*', 'dog_registry']);
    expect(m('osquery_users')).toBe(true);
    expect(m('dog_registry')).toBe(true);
    expect(m('cat_registry')).toBe(false);
  });

  it('is linear on adversarial patterns (no backtracking blow-up)', () => {
    const pattern = '*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b';
    expect(globMatches(pattern, 'a'.repeat(64))).toBe(false);
    expect(globMatches(pattern, `${'a'.repeat(63)}b`)).toBe(true);
  });
});
