/**
 * Access control of GraphQL operations: once Apollo has parsed and
 * validated an operation, and before any field runs, every root field's
 * scope ({@link FIELD_ACCESS}) and every family it names (a literal or a
 * variable) are checked against the request's token. One field the token may
 * not run refuses the whole operation (401/403 with extensions.code
 * UNAUTHENTICATED or FORBIDDEN, `path` naming the field): nothing runs.
 * Introspection (__schema, __type, __typename) needs a valid token and no
 * scope. Deny by default: a root field missing from the table is refused
 * (test/unit/http/route-access.test.ts checks the table against
 * schema.graphql). A field below the root that needs more than its root
 * field's scope checks it in its resolver (`Family.move`: admin, as
 * `GET /api/families/{family}/move`). The token itself was authenticated
 * and charged by the route's hook (http/auth.ts). For a token restricted by
 * families the tables of rawQuery's SQL are checked here too (the query
 * service checks them again when the field runs); ingestLogs' events are
 * charged by its resolver.
 */
import { HeaderMap, type ApolloServerPlugin, type GraphQLRequestListener } from '@apollo/server';
import { GraphQLError, Kind, type FieldNode, type FragmentDefinitionNode, type SelectionSetNode } from './graphql-js.js';
import { AppError, isAppError } from '../../errors/app-error.js';
import type { Scope } from '../../config/tokens.js';
import { ANONYMOUS, type Principal } from '../../services/access-service.js';
import { refusalHeaders } from '../auth.js';
import type { GraphqlContext } from './context.js';

/** What a root field needs: a scope (null: any valid token), and the argument naming a family or holding SQL, if any. */
export interface FieldAccess {
  readonly scope: Scope | null;
  readonly familyArgument?: string;
  /** An argument of SQL whose tables a token restricted by families must be allowed. */
  readonly sqlArgument?: string;
}

const OPEN: FieldAccess = { scope: null };
const QUERY: FieldAccess = { scope: 'query' };
const ADMIN: FieldAccess = { scope: 'admin' };
const ADMIN_FAMILY: FieldAccess = { scope: 'admin', familyArgument: 'family' };

/** Every root field of schema.graphql, by operation type. */
export const FIELD_ACCESS: Readonly<Record<'query' | 'mutation', Readonly<Record<string, FieldAccess>>>> = Object.freeze({
  query: {
    rawQuery: { scope: 'query', sqlArgument: 'query' },
    describe: QUERY,
    families: QUERY,
    family: { scope: 'query', familyArgument: 'name' },
    shards: QUERY,
    rebalance: ADMIN,
    __schema: OPEN,
    __type: OPEN,
    __typename: OPEN,
  },
  mutation: {
    ingestLogs: { scope: 'ingest', familyArgument: 'family' },
    ingestOsquery: { scope: 'ingest' },
    ingestEvents: { scope: 'ingest', familyArgument: 'family' },
    setRetention: ADMIN_FAMILY,
    clearRetention: ADMIN_FAMILY,
    purgeLogs: ADMIN_FAMILY,
    moveFamily: ADMIN_FAMILY,
    cancelFamilyMove: ADMIN_FAMILY,
    runRebalance: ADMIN,
    setFamilyPlacement: ADMIN_FAMILY,
    __typename: OPEN,
  },
});

/** The root fields of a selection set, through fragment spreads and inline fragments. */
function rootFields(selectionSet: SelectionSetNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>, out: FieldNode[] = [], seen = new Set<string>()): FieldNode[] {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) out.push(selection);
    else if (selection.kind === Kind.INLINE_FRAGMENT) rootFields(selection.selectionSet, fragments, out, seen);
    else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = fragments.get(selection.name.value);
      if (fragment !== undefined) rootFields(fragment.selectionSet, fragments, out, seen);
    }
  }
  return out;
}

/** A string argument's value, from a literal or a variable; undefined otherwise (the resolver reports bad input). */
function stringArgument(field: FieldNode, name: string, variables: Readonly<Record<string, unknown>> | undefined): string | undefined {
  const argument = field.arguments?.find((a) => a.name.value === name);
  if (argument === undefined) return undefined;
  const { value } = argument;
  if (value.kind === Kind.STRING) return value.value;
  if (value.kind === Kind.VARIABLE) {
    const given = variables?.[value.name.value];
    return typeof given === 'string' ? given : undefined;
  }
  return undefined;
}

/** A refusal as Apollo sends it: the AppError's code, message and details (formatGraphqlError), its status and headers. */
function refusal(error: AppError, path: string): GraphQLError {
  const headers = new HeaderMap(Object.entries(refusalHeaders(error)));
  // A path and an originalError make formatGraphqlError treat it as the coded AppError it is.
  return new GraphQLError(error.message, { originalError: error, path: [path], extensions: { http: { status: error.status, headers } } });
}

/**
 * The principal of a resolver's context: ANONYMOUS with access control off;
 * with it on, the plugin has refused every operation without one.
 */
export function principalIn(context: GraphqlContext): Principal {
  if (context.principal !== undefined && context.principal !== null) return context.principal;
  if (context.services.access?.enabled !== true) return ANONYMOUS;
  throw new AppError('INTERNAL_SERVER_ERROR', 'internal error; the gateway log has the details', { reason: 'no principal in a GraphQL context' });
}

/**
 * The tables of `sql` for a token restricted by families; none when it is
 * not a string or not valid SQL (the field's resolver answers that, and the
 * query service checks the tables again before running anything).
 */
function sqlTables(context: GraphqlContext, sql: string | undefined): readonly string[] {
  if (sql === undefined) return [];
  try {
    return context.services.query.tablesOf(sql);
  } catch (error) {
    if (isAppError(error)) return [];
    throw error;
  }
}

const LISTENER: GraphQLRequestListener<GraphqlContext> = {
  async didResolveOperation({ operation, document, request, contextValue }) {
    const { access } = contextValue.services;
    // Apollo has answered an operation it could not resolve already.
    if (operation === undefined) return;
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    const fields = rootFields(operation.selectionSet, fragments);
    const table: Readonly<Record<string, FieldAccess>> = operation.operation === 'query' || operation.operation === 'mutation' ? FIELD_ACCESS[operation.operation] : {};
    let current = fields[0]?.alias?.value ?? fields[0]?.name.value ?? operation.operation;
    try {
      // The explorer page loads without a token; an operation sent along with it does not run.
      const principal = contextValue.principal ?? access.authenticate(undefined);
      for (const field of fields) {
        current = field.alias?.value ?? field.name.value;
        const rule = Object.hasOwn(table, field.name.value) ? table[field.name.value] : undefined;
        if (rule === undefined) {
          throw new AppError('FORBIDDEN', `the ${operation.operation} field "${field.name.value}" has no access rule, so no token may use it; this is a gateway bug: report it`, {
            field: field.name.value,
          });
        }
        if (rule.scope === null) continue;
        const family = rule.familyArgument === undefined ? undefined : stringArgument(field, rule.familyArgument, request.variables);
        access.require(principal, rule.scope, family === undefined ? [] : [family]);
        if (rule.sqlArgument !== undefined && !principal.familyFilter().all) {
          access.require(principal, rule.scope, sqlTables(contextValue, stringArgument(field, rule.sqlArgument, request.variables)));
        }
      }
    } catch (error) {
      throw isAppError(error) ? refusal(error, current) : error;
    }
  },
};

/** The Apollo plugin: checks operations only while access control is on. */
export function accessPlugin(): ApolloServerPlugin<GraphqlContext> {
  return {
    async requestDidStart({ contextValue }) {
      // Contexts built outside a request (benchmarks) may have no access service: access control is off there.
      return contextValue.services.access?.enabled === true ? LISTENER : undefined;
    },
  };
}
