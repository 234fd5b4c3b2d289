/**
 * The operation limits rule on schema.graphql: introspection counts (the
 * standard query fits the defaults, aliases of it do not), SQL-running
 * fields count as statements through aliases, fragments and lists,
 * rawQuery costs its row cap, and fragments spread many times are measured
 * once (no exponential walk).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildSchema, getIntrospectionQuery, parse, validate } from 'graphql/index.js';
import { operationLimitsRule, type OperationLimits } from '../../../../src/http/graphql/query-limits.js';

const schema = buildSchema(readFileSync(new URL('../../../../schema.graphql', import.meta.url), 'utf8'));
const DEFAULTS: OperationLimits = { maxDepth: 12, maxCost: 10_000, maxStatements: 10, queryMaxRows: 10_000 };

/** The limit errors of `text`: their extensions. */
function limitErrors(text: string, limits: OperationLimits = DEFAULTS): Array<Record<string, unknown>> {
  return validate(schema, parse(text), [operationLimitsRule(limits)]).map((e) => e.extensions as Record<string, unknown>);
}
/** The measure of `text` under limits that refuse everything, read back from the errors. */
function measure(text: string): { depth: number; cost: number; statements: number } {
  const errors = limitErrors(text, { maxDepth: 0, maxCost: 0, maxStatements: -1, queryMaxRows: DEFAULTS.queryMaxRows });
  const of = (limit: string, key: string): number => Number(errors.find((e) => e['limit'] === limit)?.[key]);
  return { depth: of('depth', 'depth'), cost: of('cost', 'cost'), statements: of('statements', 'statements') };
}

describe('introspection', () => {
  it('the standard introspection queries fit the default limits', () => {
    for (const text of [
      getIntrospectionQuery(),
      getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true, oneOf: true }),
    ]) {
      expect(limitErrors(text)).toEqual([]);
      const { depth, cost } = measure(text);
      expect(depth).toBe(6); // ofType adds no depth
      expect(cost).toBeGreaterThan(2_000);
      expect(cost).toBeLessThan(6_000);
    }
  });

  it('counts introspection fields: aliases of __schema go past the cost limit', () => {
    const bomb = (n: number): string => `{ ${Array.from({ length: n }, (_, i) => `a${i}: __schema { types { name fields { name args { name type { name } } } } }`).join(' ')} }`;
    expect(measure(bomb(1)).cost).toBe(234); // __schema 1 + types (1 + 4 * (name 1 + fields (1 + 4 * (name 1 + args (1 + 4 * 3)))))
    expect(limitErrors(bomb(50))).toEqual([expect.objectContaining({ limit: 'cost', cost: 50 * 234 })]);
  });

  it('counts __typename and __type', () => {
    expect(measure('{ __typename }')).toEqual({ depth: 1, cost: 1, statements: 0 });
    expect(measure('{ __type(name: "Family") { fields { name } } }')).toEqual({ depth: 3, cost: 1 + 1 + 4, statements: 0 });
  });
});

describe('statements', () => {
  it('counts every SQL-running field, aliases included and fragments expanded', () => {
    expect(measure('{ a: rawQuery(query: "SELECT 1") { truncated } b: rawQuery(query: "SELECT 1") { truncated } }').statements).toBe(2);
    expect(measure('query { ...F ...F } fragment F on Query { families { name } shards { name } }').statements).toBe(4);
    expect(measure('{ family(name: "x") { rows { hasMore } r2: rows { hasMore } } }').statements).toBe(3);
    expect(measure('{ describe { tables { name } } }').statements).toBe(1);
    expect(measure('mutation { clearRetention(family: "x") { family } purgeLogs(family: "x", before: "0") { deleted } }').statements).toBe(2);
  });

  it('counts a statement field below a list once per assumed list item', () => {
    expect(measure('{ families { rows { hasMore } } }').statements).toBe(11);
  });

  it('refuses past the limit, naming it and its flag', () => {
    const text = `{ ${Array.from({ length: 11 }, (_, i) => `q${i}: shards { name }`).join(' ')} }`;
    const [error] = validate(schema, parse(text), [operationLimitsRule(DEFAULTS)]);
    expect(error?.extensions).toEqual({ limit: 'statements', statements: 11, maxStatements: 10 });
    expect(error?.message).toContain('--graphql_max_statements');
  });
});

describe('rows', () => {
  it('rawQuery costs its row cap (or its selection, if more)', () => {
    expect(measure('{ rawQuery(query: "SELECT 1") { truncated } }').cost).toBe(10_000);
    expect(limitErrors('{ rawQuery(query: "SELECT 1") { results columns { name type } truncated shards elapsedMs } }')).toEqual([]);
    expect(limitErrors('{ a: rawQuery(query: "SELECT 1") { truncated } b: rawQuery(query: "SELECT 2") { truncated } }')).toEqual([
      expect.objectContaining({ limit: 'cost', cost: 20_000 }),
    ]);
  });

  it('rows costs its limit: 100 by default, 1000 when a variable', () => {
    expect(measure('{ family(name: "x") { rows(limit: 7) { hasMore } } }').cost).toBe(1 + 7);
    expect(measure('{ family(name: "x") { rows { hasMore } } }').cost).toBe(1 + 100);
    expect(measure('query Q($n: Int) { family(name: "x") { rows(limit: $n) { hasMore } } }').cost).toBe(1 + 1000);
  });
});

describe('fragments', () => {
  it('measures a fragment once however often it is spread (no exponential walk)', () => {
    // F0 spreads F1 twice, F1 spreads F2 twice, ...: 2^40 paths if walked naively.
    const levels = 40;
    const fragments = Array.from({ length: levels }, (_, i) => `fragment F${i} on Query { a${i}: __typename ...F${i + 1} b${i}: __typename ...F${i + 1} }`);
    fragments.push(`fragment F${levels} on Query { __typename }`);
    const text = `{ ...F0 } ${fragments.join(' ')}`;
    const { cost } = measure(text);
    expect(cost).toBeGreaterThan(DEFAULTS.maxCost);
  });
});
