/**
 * The custom scalars schema.graphql declares, from graphql-scalars (never
 * home-made): JSON (any JSON value), JSONObject (a JSON object: events,
 * schemas, result rows) and DateTime (ISO-8601 UTC). Each is published with
 * schema.graphql's description (a resolver's description replaces the
 * SDL's; test/unit/http/graphql/scalars.test.ts compares them), and DateTime
 * serialises the gateway's microsecond strings as they are, where
 * graphql-scalars would round them through a JS Date to milliseconds.
 */
import { DateTimeResolver, JSONObjectResolver, JSONResolver } from 'graphql-scalars';
import { GraphQLScalarType } from './graphql-js.js';

/** Descriptions, word for word as in schema.graphql. */
const DESCRIPTIONS = {
  JSON: 'Any JSON value: string, number, boolean, null, array or object.',
  JSONObject: 'A JSON object (`{...}`), for example one log event or one result row.',
  DateTime: 'A point in time as an ISO-8601 string in UTC, with microseconds when the gateway has them, for example `2024-05-01T12:00:00.123456Z`.',
} as const;

function described(scalar: GraphQLScalarType, description: string, overrides: { serialize?: (value: unknown) => unknown } = {}): GraphQLScalarType {
  return new GraphQLScalarType({ ...scalar.toConfig(), description, ...overrides });
}

/**
 * A UTC string (`...Z`) leaves as it is once graphql-scalars accepts it (so
 * `.123456Z` keeps its microseconds); anything else (a Date, a string with
 * an offset) leaves as Date.toISOString().
 * Examples: '2024-05-01T12:00:00.123456Z' -> same; '2024-05-01T14:00:00+02:00' -> '2024-05-01T12:00:00.000Z'.
 */
function serializeDateTime(value: unknown): string {
  const date = DateTimeResolver.serialize(value) as Date;
  if (typeof value === 'string' && value.endsWith('Z')) return value;
  return date.toISOString();
}

/** Scalar resolvers keyed by their schema names. */
export const scalarResolvers: { JSON: GraphQLScalarType; JSONObject: GraphQLScalarType; DateTime: GraphQLScalarType } = {
  JSON: described(JSONResolver, DESCRIPTIONS.JSON),
  JSONObject: described(JSONObjectResolver, DESCRIPTIONS.JSONObject),
  DateTime: described(DateTimeResolver, DESCRIPTIONS.DateTime, { serialize: serializeDateTime }),
};
