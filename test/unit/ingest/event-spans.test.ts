import { describe, expect, it } from 'vitest';
import { eventSpans } from '../../../src/ingest/event-spans.js';
import { appErrorOf } from '../../helpers/app-error.js';

/** A repeatable pseudo-random sequence in [0, 1) from `seed`. */
function seeded(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

/** Expects INVALID_JSON-like AppError `code` with `details` among its details. */
function expectAppError(fn: () => unknown, code: string, details: Record<string, unknown>): void {
  const error = appErrorOf(fn);
  expect(error.code).toBe(code);
  expect(error.details).toMatchObject(details);
}

/** The texts eventSpans points at (the array at `path`), parsed, next to what JSON.parse found there. */
function check(text: string, path: readonly string[] = ['logs']): void {
  const found = path.reduce<unknown>((value, key) => (typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined), JSON.parse(text));
  const spans = eventSpans(text, path);
  if (!Array.isArray(found)) {
    expect(spans).toBeUndefined();
    return;
  }
  expect(spans).toBeDefined();
  const pieces = [];
  for (let i = 0; i < (spans as number[]).length; i += 2) pieces.push(text.slice((spans as number[])[i], (spans as number[])[i + 1]));
  expect(pieces.map((p) => JSON.parse(p) as unknown)).toEqual(found);
  // Each piece is exactly one value, with no surrounding space.
  for (const piece of pieces) expect(piece).toBe(piece.trim());
}

function randomValue(random: () => number, depth: number): unknown {
  const pick = Math.floor(random() * (depth > 3 ? 5 : 7));
  const tricky = ['', 'plain', '"quoted"', 'back\\slash\\', '\\"', ']', '}', '[{', ',', ':', '\n\t', 'é😀', '\u0000', '\\\\"'];
  switch (pick) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2:
      return Math.round((random() - 0.5) * 1e6) / 100;
    case 3:
    case 4:
      return tricky[Math.floor(random() * tricky.length)];
    case 5:
      return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: Math.floor(random() * 4) }, (_, i) => [`${tricky[Math.floor(random() * tricky.length)]}${i}`, randomValue(random, depth + 1)]),
      );
  }
}

describe('eventSpans', () => {
  it('finds each element of the logs array', () => {
    expect(eventSpans('{"family":"f","logs":[{"a":1}, {"b":"]"}]}')).toEqual([22, 29, 31, 40]);
    expect(eventSpans('{"logs":[]}')).toEqual([]);
    expect(eventSpans(' { "logs" : [ 1 , "x" , null ] } ')).toEqual([14, 15, 18, 21, 24, 28]);
  });

  it('reads keys written with escapes', () => {
    check('{"\\u006cogs":[{"a":"\\"}"}]}');
    check('{"family":"f","\\u006cogs":[{"b":2}]}');
  });

  it('refuses a key twice in one object, anywhere, naming the event or member (INVALID_JSON)', () => {
    expectAppError(() => eventSpans('{"logs":[{"a":1}],"family":"f","logs":[{"b":2}]}'), 'INVALID_JSON', { key: 'logs' });
    expectAppError(() => eventSpans('{"logs":[{"a":1}],"\\u006cogs":[{"b":2}]}'), 'INVALID_JSON', { key: 'logs' });
    expectAppError(() => eventSpans('{"logs":[{"n":1},{"n":"bad","n":2}]}'), 'INVALID_JSON', { index: 1, key: 'n' });
    expectAppError(() => eventSpans('{"logs":[{"n":1,"\\u006e":2}]}'), 'INVALID_JSON', { index: 0, key: 'n' });
    expectAppError(() => eventSpans('{"logs":[{"j":[{"x":1},{"y":{"z":1,"z":2}}]}]}'), 'INVALID_JSON', { index: 0, key: 'z' });
    expectAppError(() => eventSpans('{"schema":{"n":"int","n":"string"},"logs":[]}'), 'INVALID_JSON', { member: 'schema', key: 'n' });
    expectAppError(() => eventSpans('{"family":"a","family":"b","logs":[]}'), 'INVALID_JSON', { key: 'family' });
    // Past the linear comparison: the Set takes over.
    const wide = Array.from({ length: 40 }, (_, k) => `"k${k}":${k}`).join(',');
    expectAppError(() => eventSpans(`{"logs":[{${wide}},{${wide},"k39":1}]}`), 'INVALID_JSON', { index: 1, key: 'k39' });
    expectAppError(() => eventSpans(`{"logs":[{${wide},"k3":1}]}`), 'INVALID_JSON', { index: 0, key: 'k3' });
  });

  it('keys repeated across sibling, nested or successive objects are fine', () => {
    check('{"logs":[{"n":1,"j":{"n":1,"m":{"n":2}}},{"n":2,"j":[{"n":1},{"n":2}]}],"schema":{"n":"int","j":"json"}}');
    const wide = Array.from({ length: 40 }, (_, k) => `"k${k}":{"k${k}":${k}}`).join(',');
    check(`{"logs":[{${wide}},{${wide}},{"k1":[{${wide}}]}]}`);
  });

  it('scans values nested 100,000 deep without recursion', () => {
    const deep = `${'[{"a":'.repeat(100_000)}1${'}]'.repeat(100_000)}`;
    const text = `{"logs":[{"j":${deep}},{"k":1}]}`;
    expect(eventSpans(text)).toEqual([9, 15 + deep.length, 16 + deep.length, 23 + deep.length]);
    expect(text.slice(16 + deep.length, 23 + deep.length)).toBe('{"k":1}');
  });

  it('gives undefined when there is no logs array', () => {
    expect(eventSpans('[1,2]')).toBeUndefined();
    expect(eventSpans('{"family":"f"}')).toBeUndefined();
    expect(eventSpans('{"logs":{"a":1}}')).toBeUndefined();
    expect(eventSpans('"logs"')).toBeUndefined();
  });

  it('matches JSON.parse on thousands of random bodies, compact and pretty-printed', () => {
    const random = seeded(5);
    for (let n = 0; n < 2000; n++) {
      const body: Record<string, unknown> = {};
      if (random() < 0.5) body['family'] = 'f]{"';
      if (random() < 0.3) body['schema'] = randomValue(random, 1);
      body['logs'] = Array.from({ length: Math.floor(random() * 6) }, () => (random() < 0.8 ? randomValue(random, 0) : {}));
      if (random() < 0.3) body['after'] = randomValue(random, 1);
      check(JSON.stringify(body));
      check(JSON.stringify(body, null, random() < 0.5 ? 2 : '\t'));
    }
  });

  it('follows a path into nested objects: a variable of a GraphQL body', () => {
    const text = '{"query":"mutation($e: [JSONObject!]!) { x }","variables":{"family":"f","e":[{"a":1}, {"b":"]"}]}}';
    const spans = eventSpans(text, ['variables', 'e']) as number[];
    expect([text.slice(spans[0], spans[1]), text.slice(spans[2], spans[3])]).toEqual(['{"a":1}', '{"b":"]"}']);
    expect(eventSpans(text, ['variables', 'missing'])).toBeUndefined();
    expect(eventSpans(text, ['variables'])).toBeUndefined();
    expect(eventSpans('{"variables":{"e":{"a":1}}}', ['variables', 'e'])).toBeUndefined();
    expect(eventSpans('{"variables":null,"logs":[1]}', ['variables', 'e'])).toBeUndefined();
    expect(eventSpans('[{"variables":{"e":[1]}}]', ['variables', 'e'])).toBeUndefined();
  });

  it('refuses a key twice on the path, and inside the events found there', () => {
    expectAppError(() => eventSpans('{"variables":{"e":[],"e":[{"a":1}]}}', ['variables', 'e']), 'INVALID_JSON', { key: 'e' });
    expectAppError(() => eventSpans('{"variables":{"e":[{"a":1,"a":2}]}}', ['variables', 'e']), 'INVALID_JSON', { index: 0, key: 'a' });
    expectAppError(() => eventSpans('{"variables":{},"variables":{"e":[]}}', ['variables', 'e']), 'INVALID_JSON', { key: 'variables' });
  });

  it('matches JSON.parse on random GraphQL bodies', () => {
    const random = seeded(11);
    for (let n = 0; n < 500; n++) {
      const variables: Record<string, unknown> = {};
      if (random() < 0.5) variables['family'] = 'f]{"';
      variables['events'] = Array.from({ length: Math.floor(random() * 6) }, () => randomValue(random, 0));
      if (random() < 0.3) variables['after'] = randomValue(random, 1);
      check(JSON.stringify({ query: 'mutation { x }', variables }, null, random() < 0.5 ? 2 : undefined), ['variables', 'events']);
    }
  });
});
