/**
 * Validation rules that keep one GraphQL request from asking for unbounded
 * work: a selection depth limit and a cost limit (config.graphql.maxDepth,
 * maxCost). They run with graphql-js's own validation, before anything
 * executes, so a refused request touches no shard; Apollo answers them with
 * HTTP 400 and extensions.code GRAPHQL_VALIDATION_FAILED.
 *
 * Cost model (documented in the README):
 * - every selected field costs 1, and each alias counts again;
 * - `rows` costs 1 + its `limit` (default 100; a limit given as a variable
 *   counts as the maximum, 1000, because validation runs before variables);
 * - the children of a field returning a list of objects (families, shards,
 *   describe.tables, columns) cost LIST_FACTOR times, as each list item
 *   repeats them;
 * - introspection (`__schema`, `__type`) is free and has no depth limit, so
 *   Apollo Sandbox and codegen always work (introspection itself is switched
 *   off by --graphql_introspection=false).
 */
import {
  GraphQLError,
  Kind,
  getNamedType,
  getNullableType,
  isListType,
  isObjectType,
  isInterfaceType,
  type ASTVisitor,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLOutputType,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
  type GraphQLCompositeType,
} from './graphql-js.js';

/** How many items a list field is assumed to hold when costing its children. */
export const LIST_FACTOR = 10;
/** Rows a `rows` field counts when its limit is not given. */
const ROWS_DEFAULT_LIMIT = 100;
/** Rows a `rows` field counts when its limit is a variable (unknown at validation time). */
const ROWS_MAX_LIMIT = 1000;

function isIntrospection(field: FieldNode): boolean {
  return field.name.value.startsWith('__');
}

/** The row count a `rows(limit: ...)` field asks for, as far as the document says. */
function rowsLimit(field: FieldNode): number {
  const arg = field.arguments?.find((a) => a.name.value === 'limit');
  if (arg === undefined || arg.value.kind === Kind.NULL) return ROWS_DEFAULT_LIMIT;
  if (arg.value.kind === Kind.INT) return Math.max(0, Number(arg.value.value));
  return ROWS_MAX_LIMIT;
}

/** Walks selections through fragments; a fragment seen on the current path is skipped (cycles are reported by NoFragmentCycles). */
class SelectionWalker {
  constructor(private readonly context: ValidationContext) {}

  fragment(name: string): FragmentDefinitionNode | undefined {
    return this.context.getFragment(name) ?? undefined;
  }

  /** The deepest field nesting below `set` (a field with no children is depth 1). */
  depth(set: SelectionSetNode | undefined, path: ReadonlySet<string> = new Set()): number {
    if (set === undefined) return 0;
    let deepest = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        if (isIntrospection(selection)) continue;
        deepest = Math.max(deepest, 1 + this.depth(selection.selectionSet, path));
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        deepest = Math.max(deepest, this.depth(selection.selectionSet, path));
      } else {
        const name = selection.name.value;
        const fragment = this.fragment(name);
        if (fragment === undefined || path.has(name)) continue;
        deepest = Math.max(deepest, this.depth(fragment.selectionSet, new Set([...path, name])));
      }
    }
    return deepest;
  }

  /** The cost of `set` selected on `parent` (see the module header). */
  cost(set: SelectionSetNode | undefined, parent: GraphQLCompositeType | undefined, path: ReadonlySet<string> = new Set()): number {
    if (set === undefined) return 0;
    let total = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        if (isIntrospection(selection)) continue;
        const type = fieldType(parent, selection.name.value);
        const named = type === undefined ? undefined : getNamedType(type);
        const child = named !== undefined && (isObjectType(named) || isInterfaceType(named)) ? named : undefined;
        const children = this.cost(selection.selectionSet, child, path);
        if (selection.name.value === 'rows' && parent?.name === 'Family') {
          total += 1 + rowsLimit(selection) + children;
        } else {
          const repeated = type !== undefined && isListType(getNullableType(type)) ? LIST_FACTOR : 1;
          total += 1 + repeated * children;
        }
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const named = selection.typeCondition === undefined ? parent : this.context.getSchema().getType(selection.typeCondition.name.value);
        total += this.cost(selection.selectionSet, named !== undefined && (isObjectType(named) || isInterfaceType(named)) ? named : parent, path);
      } else {
        const name = selection.name.value;
        const fragment = this.fragment(name);
        if (fragment === undefined || path.has(name)) continue;
        const named = this.context.getSchema().getType(fragment.typeCondition.name.value);
        total += this.cost(fragment.selectionSet, named !== undefined && (isObjectType(named) || isInterfaceType(named)) ? named : parent, new Set([...path, name]));
      }
    }
    return total;
  }
}

function fieldType(parent: GraphQLCompositeType | undefined, name: string): GraphQLOutputType | undefined {
  if (parent === undefined || !(isObjectType(parent) || isInterfaceType(parent))) return undefined;
  return parent.getFields()[name]?.type;
}

function rootType(context: ValidationContext, operation: OperationDefinitionNode): GraphQLCompositeType | undefined {
  const schema = context.getSchema();
  const root = schema.getRootType(operation.operation);
  return root ?? undefined;
}

function operationName(operation: OperationDefinitionNode): string {
  return operation.name?.value ?? 'the anonymous operation';
}

/**
 * Refuses operations whose selections nest deeper than `maxDepth` fields
 * (`{ families { columns { name } } }` is depth 3). Introspection fields are exempt.
 */
export function depthLimitRule(maxDepth: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(operation) {
      const depth = new SelectionWalker(context).depth(operation.selectionSet);
      if (depth > maxDepth) {
        context.reportError(
          new GraphQLError(
            `${operationName(operation)} is ${depth} levels deep, more than the limit of ${maxDepth}; select fewer nested fields`,
            { nodes: [operation], extensions: { limit: 'depth', depth, maxDepth } },
          ),
        );
      }
    },
  });
}

/** Refuses operations whose cost (see the module header) exceeds `maxCost`. */
export function costLimitRule(maxCost: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(operation) {
      const cost = new SelectionWalker(context).cost(operation.selectionSet, rootType(context, operation));
      if (cost > maxCost) {
        context.reportError(
          new GraphQLError(
            `${operationName(operation)} costs ${cost}, more than the limit of ${maxCost}; ask for fewer rows (a smaller rows limit) or fewer list fields per request`,
            { nodes: [operation], extensions: { limit: 'cost', cost, maxCost } },
          ),
        );
      }
    },
  });
}
