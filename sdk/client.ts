/**
 * databalancer's typed GraphQL client. Every method sends one operation from
 * sdk/operations/*.graphql (compiled to typed documents in sdk/generated/)
 * as a POST to /graphql with fetch, and returns the typed `data`. A response
 * with errors throws a {@link DatabalancerError} carrying the first error's
 * `extensions.code` (the same code REST answers), so callers branch on
 * `error.code`, never on the message.
 *
 * @example
 * const client = createClient({ url: 'http://localhost:8080/graphql' });
 * await client.ingestLogs({ family: 'dogs', schema: { name: 'string', weight: 'int' }, logs: [{ name: 'spot', weight: 100 }] });
 * const page = await client.family('dogs').rows({ where: { field: 'weight', gt: 10 }, limit: 50 });
 */
import { print, type DocumentNode } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import {
  CancelFamilyMoveDocument,
  ClearRetentionDocument,
  DescribeDocument,
  FamiliesDocument,
  FamilyDocument,
  FamilyMoveDocument,
  FamilyRowsDocument,
  IngestLogsDocument,
  MoveFamilyDocument,
  PurgeLogsDocument,
  RawQueryDocument,
  RebalanceDocument,
  RunRebalanceDocument,
  SetFamilyPlacementDocument,
  SetRetentionDocument,
  ShardsDocument,
  type CancelFamilyMoveMutation,
  type ClearRetentionMutation,
  type DescribeQuery,
  type FamiliesQuery,
  type FamilyMoveQuery,
  type FamilyQuery,
  type FamilyRowsQuery,
  type FamilyRowsQueryVariables,
  type IngestLogsMutation,
  type IngestLogsMutationVariables,
  type MoveFamilyMutation,
  type PurgeLogsMutation,
  type RawQueryQuery,
  type RebalanceQuery,
  type RunRebalanceMutation,
  type SetFamilyPlacementMutation,
  type SetRetentionMutation,
  type ShardsQuery,
} from './generated/graphql.js';

/** One GraphQL error as the server sends it. */
export interface GraphqlErrorEntry {
  message: string;
  path?: ReadonlyArray<string | number>;
  locations?: ReadonlyArray<{ line: number; column: number }>;
  extensions?: Record<string, unknown>;
}

/**
 * What every failed call throws. `code` is `extensions.code` of the first
 * GraphQL error (for example INVALID_VALUE, FAMILY_NOT_FOUND,
 * GRAPHQL_VALIDATION_FAILED), or HTTP_ERROR / NETWORK_ERROR when no GraphQL
 * answer came back. `extensions` holds the error's details.
 */
export class DatabalancerError extends Error {
  readonly code: string;
  readonly extensions: Record<string, unknown>;
  /** Every GraphQL error of the response. */
  readonly errors: readonly GraphqlErrorEntry[];
  /** HTTP status of the response, when there was one. */
  readonly status: number | undefined;

  constructor(message: string, code: string, options: { extensions?: Record<string, unknown>; errors?: readonly GraphqlErrorEntry[]; status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DatabalancerError';
    this.code = code;
    this.extensions = options.extensions ?? {};
    this.errors = options.errors ?? [];
    this.status = options.status;
  }
}

/** How to reach the gateway. */
export interface ClientOptions {
  /** The GraphQL endpoint, for example `http://localhost:8080/graphql`. */
  url: string;
  /** Extra headers sent with every request (for example authorization added by a proxy). */
  headers?: Record<string, string>;
  /** A fetch implementation; default the global fetch (Node 18+, browsers). */
  fetch?: typeof fetch;
}

/** Arguments of `family(name).rows(...)`. */
export type RowsArgs = Omit<FamilyRowsQueryVariables, 'name'>;

/** A structured row filter (see RowFilter in schema.graphql). */
export type { RowFilter, RowOrder, SortDirection } from './generated/graphql.js';

/** Operations on one family. */
export interface FamilyHandle {
  /** The family's placement, columns, row estimate and retention. Throws FAMILY_NOT_FOUND. */
  get(): Promise<FamilyQuery['family']>;
  /** A page of the family's rows matching a structured filter. */
  rows(args?: RowsArgs): Promise<FamilyRowsQuery['family']['rows']>;
  /** The family's latest move between shards, null when it never moved (GET /api/families/{family}/move). Needs the admin scope. */
  move(): Promise<FamilyMoveQuery['family']['move']>;
}

/** The typed client: one method per operation. */
export interface DatabalancerClient {
  /** Ingests log events into a family (PUT /api/log). */
  ingestLogs(args: IngestLogsMutationVariables): Promise<IngestLogsMutation['ingestLogs']>;
  /** Runs one read-only SQL SELECT (POST /api/query). */
  rawQuery(query: string): Promise<RawQueryQuery['rawQuery']>;
  /** Every family table on every shard (GET /api/describe). */
  describe(): Promise<DescribeQuery['describe']>;
  /** Every log family. */
  families(): Promise<FamiliesQuery['families']>;
  /** One family: its description and its rows. */
  family(name: string): FamilyHandle;
  /** Every configured shard with its reachability and families. */
  shards(): Promise<ShardsQuery['shards']>;
  /** Sets how long a family's events are kept: seconds ("86400") or a duration ("7d"). */
  setRetention(family: string, retention: string): Promise<SetRetentionMutation['setRetention']>;
  /** Keeps a family's events forever. */
  clearRetention(family: string): Promise<ClearRetentionMutation['clearRetention']>;
  /** Deletes a family's events ingested before `before` (ISO-8601 or epoch seconds). */
  purgeLogs(family: string, before: string): Promise<PurgeLogsMutation['purgeLogs']>;
  /** Starts moving a family to shard `to`; answers at once in state `copying` (POST /api/families/{family}/move). Follow it with `family(name).move()`. */
  moveFamily(family: string, to: string, from?: string): Promise<MoveFamilyMutation['moveFamily']>;
  /** Cancels a family's move that has not started switching (DELETE /api/families/{family}/move). */
  cancelFamilyMove(family: string): Promise<CancelFamilyMoveMutation['cancelFamilyMove']>;
  /** The moves that would even out rows per shard, without doing them (GET /api/rebalance). */
  rebalance(): Promise<RebalanceQuery['rebalance']>;
  /** Queues the proposed moves; the gateways run them one at a time (POST /api/rebalance). */
  runRebalance(): Promise<RunRebalanceMutation['runRebalance']>;
  /** Spreads a family's events over `shards`, every shard it is on included (PUT /api/families/{family}/placement). Needs the admin scope. */
  setFamilyPlacement(family: string, shards: string[]): Promise<SetFamilyPlacementMutation['setFamilyPlacement']>;
  /** Sends any typed document (for operations of your own). */
  request<TResult, TVariables extends Record<string, unknown>>(document: TypedDocumentNode<TResult, TVariables>, variables: TVariables): Promise<TResult>;
}

interface GraphqlResponseBody {
  data?: unknown;
  errors?: GraphqlErrorEntry[];
}

/** Creates a client for the gateway at `options.url`. */
export function createClient(options: ClientOptions): DatabalancerClient {
  const doFetch = options.fetch ?? globalThis.fetch;
  const printed = new WeakMap<DocumentNode, string>();

  async function request<TResult, TVariables extends Record<string, unknown>>(document: TypedDocumentNode<TResult, TVariables>, variables: TVariables): Promise<TResult> {
    let query = printed.get(document);
    if (query === undefined) {
      query = print(document);
      printed.set(document, query);
    }
    let response: Response;
    try {
      response = await doFetch(options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...options.headers },
        body: JSON.stringify({ query, variables }),
      });
    } catch (error) {
      throw new DatabalancerError(`could not reach ${options.url}: ${(error as Error).message}`, 'NETWORK_ERROR', { cause: error });
    }
    const text = await response.text();
    let body: GraphqlResponseBody | undefined;
    try {
      body = JSON.parse(text) as GraphqlResponseBody;
    } catch {
      body = undefined;
    }
    const first = body?.errors?.[0];
    if (first !== undefined) {
      const code = typeof first.extensions?.['code'] === 'string' ? first.extensions['code'] : 'INTERNAL_SERVER_ERROR';
      throw new DatabalancerError(first.message, code, { extensions: first.extensions ?? {}, errors: body?.errors ?? [], status: response.status });
    }
    // A request-level failure answered outside GraphQL (for example the REST-style envelope for a body that is not JSON).
    const envelope = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    if (envelope !== undefined && typeof envelope.code === 'string') {
      throw new DatabalancerError(String(envelope.message), envelope.code, { extensions: envelope as Record<string, unknown>, status: response.status });
    }
    if (!response.ok || body?.data === undefined || body.data === null) {
      throw new DatabalancerError(`HTTP ${response.status} from ${options.url}: ${text.slice(0, 200)}`, 'HTTP_ERROR', { status: response.status });
    }
    return body.data as TResult;
  }

  return {
    request,
    ingestLogs: async (args) => (await request(IngestLogsDocument, args)).ingestLogs,
    rawQuery: async (query) => (await request(RawQueryDocument, { query })).rawQuery,
    describe: async () => (await request(DescribeDocument, {})).describe,
    families: async () => (await request(FamiliesDocument, {})).families,
    family: (name) => ({
      get: async () => (await request(FamilyDocument, { name })).family,
      rows: async (args = {}) => (await request(FamilyRowsDocument, { ...args, name })).family.rows,
      move: async () => (await request(FamilyMoveDocument, { name })).family.move,
    }),
    shards: async () => (await request(ShardsDocument, {})).shards,
    setRetention: async (family, retention) => (await request(SetRetentionDocument, { family, retention })).setRetention,
    clearRetention: async (family) => (await request(ClearRetentionDocument, { family })).clearRetention,
    purgeLogs: async (family, before) => (await request(PurgeLogsDocument, { family, before })).purgeLogs,
    moveFamily: async (family, to, from) => (await request(MoveFamilyDocument, from === undefined ? { family, to } : { family, to, from })).moveFamily,
    cancelFamilyMove: async (family) => (await request(CancelFamilyMoveDocument, { family })).cancelFamilyMove,
    rebalance: async () => (await request(RebalanceDocument, {})).rebalance,
    runRebalance: async () => (await request(RunRebalanceDocument, {})).runRebalance,
    setFamilyPlacement: async (family, shards) => (await request(SetFamilyPlacementDocument, { family, shards })).setFamilyPlacement,
  };
}
