/**
 * The custom scalars schema.graphql declares, from graphql-scalars (never
 * home-made): JSON (any JSON value), JSONObject (a JSON object: events,
 * schemas, result rows) and DateTime (ISO-8601 UTC).
 */
import { DateTimeResolver, JSONObjectResolver, JSONResolver } from 'graphql-scalars';
import type { GraphQLScalarType } from './graphql-js.js';

/** Scalar resolvers keyed by their schema names. */
export const scalarResolvers: { JSON: GraphQLScalarType; JSONObject: GraphQLScalarType; DateTime: GraphQLScalarType } = {
  JSON: JSONResolver,
  JSONObject: JSONObjectResolver,
  DateTime: DateTimeResolver,
};
