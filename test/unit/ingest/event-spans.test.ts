import { describe, expect, it } from 'vitest';
import { eventSpans } from '../../../src/ingest/event-spans.js';

/** The texts eventSpans points at, parsed, next to what JSON.parse found. */
function check(text: string): void {
  const parsed = JSON.parse(text) as { logs?: unknown };
  const spans = eventSpans(text);
  if (!Array.isArray(parsed.logs)) {
    expect(spans).toBeUndefined();
    return;
  }
  expect(spans).toBeDefined();
  const pieces = [];
  for (let i = 0; i < (spans as number[]).length; i += 2) pieces.push(text.slice((spans as number[])[i], (spans as number[])[i + 1]));
  expect(pieces.map((p) => JSON.parse(p) as unknown)).toEqual(parsed.logs);
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

  it('takes the last logs key, as JSON.parse does, and reads keys written with escapes', () => {
    check('{"logs":[{"a":1}],"family":"f","logs":[{"b":2},{"c":3}]}');
    check('{"\\u006cogs":[{"a":"\\"}"}]}');
    check('{"logs":[{"a":1}],"\\u006cogs":[{"b":2}]}');
  });

  it('gives undefined when there is no logs array', () => {
    expect(eventSpans('[1,2]')).toBeUndefined();
    expect(eventSpans('{"family":"f"}')).toBeUndefined();
    expect(eventSpans('{"logs":{"a":1}}')).toBeUndefined();
    expect(eventSpans('{"logs":[1],"logs":"x"}')).toBeUndefined();
    expect(eventSpans('"logs"')).toBeUndefined();
  });

  it('matches JSON.parse on thousands of random bodies, compact and pretty-printed', () => {
    let seed = 5;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
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
});
