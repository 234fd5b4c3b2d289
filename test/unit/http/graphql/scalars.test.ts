/**
 * The scalars the server publishes say what schema.graphql says (the
 * resolvers' descriptions replace the SDL's), and DateTime keeps the
 * gateway's microseconds instead of rounding them through a JS Date.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, Kind, type ScalarTypeDefinitionNode } from 'graphql';
import { scalarResolvers } from '../../../../src/http/graphql/scalars.js';

const written = new Map(
  parse(readFileSync('schema.graphql', 'utf8'))
    .definitions.filter((d): d is ScalarTypeDefinitionNode => d.kind === Kind.SCALAR_TYPE_DEFINITION)
    .map((d) => [d.name.value, d.description?.value]),
);

describe('scalars', () => {
  it('has a resolver for each scalar of schema.graphql, with the same description', () => {
    expect(Object.keys(scalarResolvers).sort()).toEqual([...written.keys()].sort());
    for (const [name, resolver] of Object.entries(scalarResolvers)) expect(resolver.description).toBe(written.get(name));
  });

  it('serialises DateTime strings as given (microseconds kept) and Dates as ISO-8601 UTC', () => {
    expect(scalarResolvers.DateTime.serialize('2024-05-01T12:00:00.123456Z')).toBe('2024-05-01T12:00:00.123456Z');
    expect(scalarResolvers.DateTime.serialize(new Date('2024-05-01T12:00:00.123Z'))).toBe('2024-05-01T12:00:00.123Z');
    expect(scalarResolvers.DateTime.serialize('2024-05-01T14:00:00.5+02:00')).toBe('2024-05-01T12:00:00.500Z');
    expect(() => scalarResolvers.DateTime.serialize('yesterday')).toThrow(/DateTime/);
  });
});
