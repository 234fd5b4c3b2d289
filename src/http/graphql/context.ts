/**
 * What every GraphQL resolver receives as its context: the shared services
 * and the request's logger. Built once per request by apollo.ts.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Services } from '../../services/services.js';
import type { Principal } from '../../services/access-service.js';
import type { StatementBudget } from './statement-budget.js';

/** The per-request GraphQL context. */
export interface GraphqlContext {
  /** The use cases REST and GraphQL share. */
  services: Services;
  /** The request's child logger (carries reqId). */
  logger: FastifyBaseLogger;
  /** The request id (also the x-request-id response header). */
  requestId: string;
  /** The SQL statements this operation may still run (--graphql_max_statements). */
  statements: StatementBudget;
  /**
   * Who the request is (http/auth.ts): null only for a request that sent no
   * token to the explorer page, whose operations access-plugin.ts refuses;
   * absent in contexts built outside a request (benchmarks), where access
   * control is off. Resolvers read it through access-plugin.ts's principalIn.
   */
  principal?: Principal | null;
  /** Aborted when the client goes away before the answer: its queries are cancelled. */
  signal?: AbortSignal;
  /**
   * The POST body's text: ingestLogs takes each event's raw copy from it
   * when `logs` is a variable (the sender's own JSON, as REST stores it).
   */
  bodyText?: string | undefined;
}
