/**
 * The validation rule that keeps one GraphQL operation from asking for
 * unbounded work: a selection depth limit, a limit on the SQL statements it
 * may run, and a cost limit (config.graphql.maxDepth, maxStatements,
 * maxCost). It runs with graphql-js's own validation, before anything
 * executes, so a refused operation touches no shard; Apollo answers it with
 * HTTP 400 and extensions.code GRAPHQL_VALIDATION_FAILED. (The document's
 * size and nesting are bounded before this, in document-limits.ts.)
 *
 * Introspection fields (`__schema`, `__type`, `__typename`) count like any
 * other field: the standard introspection query fits the default limits,
 * thousands of aliases of it do not.
 *
 * Cost model (documented in docs/graphql.md):
 * - every selected field costs 1, and each alias counts again;
 * - a field that runs SQL and returns rows costs what it can return: its row
 *   cap, or its own selection's cost when that is more. `rawQuery` can
 *   return --query_max_rows rows; `rows` its `limit` (default 100; a limit
 *   given as a variable counts as the maximum, 1000, because validation runs
 *   before variables);
 * - the children of a field returning a list (families, shards,
 *   describe.tables, columns) cost LIST_FACTOR times, as each list item
 *   repeats them; those of introspection's lists (types, fields, args, ...)
 *   INTROSPECTION_LIST_FACTOR times;
 * - depth counts every field but `ofType` (a type's wrapping, a few levels).
 *
 * Statements: each selection of a field that runs SQL (STATEMENT_FIELDS)
 * counts one statement, aliases included and fragments expanded, and
 * LIST_FACTOR times below a list field (it runs once per item).
 */
import {
  GraphQLError,
  Kind,
  SchemaMetaFieldDef,
  TypeMetaFieldDef,
  TypeNameMetaFieldDef,
  getNamedType,
  getNullableType,
  isInterfaceType,
  isListType,
  isObjectType,
  type ASTVisitor,
  type FieldNode,
  type GraphQLCompositeType,
  type GraphQLOutputType,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from './graphql-js.js';

/** How many items a list field is assumed to hold when costing its children. */
export const LIST_FACTOR = 10;
/**
 * The list factor of introspection's lists (types, fields, args, ...). The
 * schema is fixed and small (40 types, at most 20 items per list, its full
 * introspection under 3,000 fields), so this prices the standard
 * introspection query (getIntrospectionQuery) at about 5,000, inside the
 * default cost limit, while every alias of it costs that much again.
 */
export const INTROSPECTION_LIST_FACTOR = 4;
/** Rows a `rows` field counts when its limit is not given. */
const ROWS_DEFAULT_LIMIT = 100;
/** Rows a `rows` field counts when its limit is a variable (unknown at validation time). */
const ROWS_MAX_LIMIT = 1000;

/** Fields whose resolvers run SQL on a shard or the catalog ("Type.field"). */
export const STATEMENT_FIELDS: ReadonlySet<string> = new Set([
  'Query.rawQuery',
  'Query.describe',
  'Query.families',
  'Query.family',
  'Query.shards',
  'Query.rebalance',
  'Family.rows',
  'Family.move',
  'Mutation.ingestLogs',
  'Mutation.setRetention',
  'Mutation.clearRetention',
  'Mutation.purgeLogs',
  'Mutation.moveFamily',
  'Mutation.cancelFamilyMove',
  'Mutation.runRebalance',
  'Mutation.setFamilyPlacement',
  'IngestResult.familyInfo',
  'RetentionPolicy.familyInfo',
  'PurgeResult.familyInfo',
  'FamilyPlacement.familyInfo',
]);

/** The limits one operation must stay within. */
export interface OperationLimits {
  /** Deepest field nesting (graphql_max_depth). */
  maxDepth: number;
  /** Highest cost (graphql_max_cost). */
  maxCost: number;
  /** Most SQL-running fields (graphql_max_statements). */
  maxStatements: number;
  /** Rows one rawQuery can return (query_max_rows): its cost. */
  queryMaxRows: number;
}

/** What an operation (or one selection set of it) asks for. */
export interface Measure {
  depth: number;
  cost: number;
  statements: number;
}

const ZERO: Measure = { depth: 0, cost: 0, statements: 0 };

/** The row count a `rows(limit: ...)` field asks for, as far as the document says. */
function rowsLimit(field: FieldNode): number {
  const arg = field.arguments?.find((a) => a.name.value === 'limit');
  if (arg === undefined || arg.value.kind === Kind.NULL) return ROWS_DEFAULT_LIMIT;
  if (arg.value.kind === Kind.INT) return Math.max(0, Number(arg.value.value));
  return ROWS_MAX_LIMIT;
}

function fieldType(parent: GraphQLCompositeType | undefined, name: string, isRoot: boolean): GraphQLOutputType | undefined {
  if (name === TypeNameMetaFieldDef.name) return TypeNameMetaFieldDef.type;
  if (isRoot && name === SchemaMetaFieldDef.name) return SchemaMetaFieldDef.type;
  if (isRoot && name === TypeMetaFieldDef.name) return TypeMetaFieldDef.type;
  if (parent === undefined || !(isObjectType(parent) || isInterfaceType(parent))) return undefined;
  return parent.getFields()[name]?.type;
}

function composite(type: unknown, fallback: GraphQLCompositeType | undefined): GraphQLCompositeType | undefined {
  return isObjectType(type) || isInterfaceType(type) ? type : fallback;
}

/**
 * Measures selections, expanding fragments. A fragment is measured once per
 * operation (memoised by name: its type condition fixes its parent type), so
 * fragments spread many times cannot make the walk exponential; a fragment
 * on the current path is skipped (cycles are reported by NoFragmentCycles).
 */
class SelectionWalker {
  private readonly fragments = new Map<string, Measure>();

  constructor(
    private readonly context: ValidationContext,
    private readonly limits: OperationLimits,
    private readonly root: GraphQLCompositeType | undefined,
  ) {}

  measure(set: SelectionSetNode | undefined, parent: GraphQLCompositeType | undefined, path: ReadonlySet<string> = new Set()): Measure {
    if (set === undefined) return ZERO;
    let depth = 0;
    let cost = 0;
    let statements = 0;
    for (const selection of set.selections) {
      let part: Measure;
      if (selection.kind === Kind.FIELD) {
        part = this.field(selection, parent, path);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const named = selection.typeCondition === undefined ? parent : this.context.getSchema().getType(selection.typeCondition.name.value);
        part = this.measure(selection.selectionSet, composite(named, parent), path);
      } else {
        part = this.fragment(selection.name.value, parent, path);
      }
      depth = Math.max(depth, part.depth);
      cost += part.cost;
      statements += part.statements;
    }
    return { depth, cost, statements };
  }

  private field(field: FieldNode, parent: GraphQLCompositeType | undefined, path: ReadonlySet<string>): Measure {
    const name = field.name.value;
    const type = fieldType(parent, name, parent !== undefined && parent === this.root);
    const children = this.measure(field.selectionSet, composite(type === undefined ? undefined : getNamedType(type), undefined), path);
    const repeated = type !== undefined && isListType(getNullableType(type)) ? (parent?.name.startsWith('__') === true ? INTROSPECTION_LIST_FACTOR : LIST_FACTOR) : 1;
    const coordinate = `${parent?.name ?? ''}.${name}`;
    const ownCost = 1 + repeated * children.cost;
    const rowCap = coordinate === 'Query.rawQuery' ? this.limits.queryMaxRows : coordinate === 'Family.rows' ? rowsLimit(field) : undefined;
    return {
      // A type's wrapping (ofType) is a few levels at most and adds no depth.
      depth: (name === 'ofType' && parent?.name === '__Type' ? 0 : 1) + children.depth,
      cost: rowCap === undefined ? ownCost : Math.max(rowCap, ownCost),
      statements: (STATEMENT_FIELDS.has(coordinate) ? 1 : 0) + repeated * children.statements,
    };
  }

  private fragment(name: string, parent: GraphQLCompositeType | undefined, path: ReadonlySet<string>): Measure {
    const known = this.fragments.get(name);
    if (known !== undefined) return known;
    const fragment = this.context.getFragment(name);
    if (fragment === undefined || fragment === null || path.has(name)) return ZERO;
    const named = this.context.getSchema().getType(fragment.typeCondition.name.value);
    const measured = this.measure(fragment.selectionSet, composite(named, parent), new Set([...path, name]));
    this.fragments.set(name, measured);
    return measured;
  }
}

/** What `operation` asks for (see the module header). */
export function measureOperation(context: ValidationContext, operation: OperationDefinitionNode, limits: OperationLimits): Measure {
  const root = context.getSchema().getRootType(operation.operation) ?? undefined;
  return new SelectionWalker(context, limits, root).measure(operation.selectionSet, root);
}

function operationName(operation: OperationDefinitionNode): string {
  return operation.name?.value ?? 'the anonymous operation';
}

/**
 * Refuses an operation past any of `limits`, one error per limit passed
 * (depth, then statements, then cost), each naming the limit and its flag.
 */
export function operationLimitsRule(limits: OperationLimits): ValidationRule {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(operation) {
      const { depth, cost, statements } = measureOperation(context, operation, limits);
      const name = operationName(operation);
      if (depth > limits.maxDepth) {
        context.reportError(
          new GraphQLError(`${name} is ${depth} levels deep, more than the limit of ${limits.maxDepth} (--graphql_max_depth); select fewer nested fields`, {
            nodes: [operation],
            extensions: { limit: 'depth', depth, maxDepth: limits.maxDepth },
          }),
        );
      }
      if (statements > limits.maxStatements) {
        context.reportError(
          new GraphQLError(
            `${name} may run ${statements} SQL statements (each rawQuery, rows, family, families, describe, shards and mutation field runs one, ${LIST_FACTOR} below a list), more than the limit of ${limits.maxStatements} (--graphql_max_statements); split it into several operations`,
            { nodes: [operation], extensions: { limit: 'statements', statements, maxStatements: limits.maxStatements } },
          ),
        );
      }
      if (cost > limits.maxCost) {
        context.reportError(
          new GraphQLError(
            `${name} costs ${cost}, more than the limit of ${limits.maxCost} (--graphql_max_cost); select fewer fields or aliases, ask for fewer rows (a smaller rows limit; each rawQuery costs --query_max_rows, ${limits.queryMaxRows}), or split it into several operations`,
            { nodes: [operation], extensions: { limit: 'cost', cost, maxCost: limits.maxCost } },
          ),
        );
      }
    },
  });
}
