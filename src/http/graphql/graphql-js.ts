/**
 * The graphql-js runtime the server code uses, imported by its CommonJS
 * entry so that it is the very instance Apollo Server and graphql-scalars
 * load. graphql 16 ships index.js (CJS) and index.mjs (ESM) without an
 * exports map: Node gives everyone index.js, but Vite-based runners (vitest)
 * resolve a bare `graphql` to index.mjs, and two copies fail graphql-js's
 * realm checks ("Cannot use GraphQLObjectType from another module or realm").
 */
export {
  GraphQLError,
  GraphQLScalarType,
  Kind,
  Lexer,
  SchemaMetaFieldDef,
  Source,
  TokenKind,
  TypeMetaFieldDef,
  TypeNameMetaFieldDef,
  getNamedType,
  getNullableType,
  isInterfaceType,
  isListType,
  isObjectType,
} from 'graphql/index.js';
export type {
  ASTVisitor,
  FieldNode,
  FragmentDefinitionNode,
  GraphQLCompositeType,
  GraphQLFormattedError,
  GraphQLOutputType,
  OperationDefinitionNode,
  SelectionSetNode,
  ValidationContext,
  ValidationRule,
} from 'graphql/index.js';
