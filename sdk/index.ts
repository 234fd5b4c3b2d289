/**
 * databalancer's typed GraphQL SDK: `createClient` and the generated
 * operation types and documents (sdk/generated/, from sdk/operations/).
 */
export { createClient, DatabalancerError } from './client.js';
export type { ClientOptions, DatabalancerClient, FamilyHandle, GraphqlErrorEntry, RowsArgs, RowFilter, RowOrder, SortDirection } from './client.js';
export * from './generated/graphql.js';
