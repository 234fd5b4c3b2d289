/**
 * GraphQL transport: Apollo Server on fastify at /graphql, from
 * schema.graphql. POST serves operations, GET serves queries (never
 * mutations) and, to browsers, the explorer page (explorer.ts). Resolvers
 * only call the shared services; errors leave with the same code and
 * message as REST. It must not hold behaviour of its own.
 */
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerErrorCode, unwrapResolverError } from '@apollo/server/errors';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginSchemaReportingDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import { GraphQLError, type GraphQLFormattedError } from './graphql-js.js';
import type { Config } from '../../config/config.js';
import { isAppError } from '../../errors/app-error.js';
import type { Services } from '../../services/services.js';
import type { GraphqlContext } from './context.js';
import { resolvers } from './resolvers/index.js';
import { operationLimitsRule } from './query-limits.js';
import { StatementBudget } from './statement-budget.js';
import { accessPlugin } from './access-plugin.js';
import { checkRequest, maxTokensFor, type DocumentLimits } from './document-limits.js';
import { requestErrorAnswer, requestErrorStatusPlugin } from './response-status.js';
import { graphiqlLandingPage, registerExplorer, sandboxLandingPage } from './explorer.js';

/** The GraphQL endpoint's path. */
export const GRAPHQL_PATH = '/graphql';

/** Same text REST sends for masked errors (http/rest/error-response.ts). */
const MASKED_MESSAGE = 'internal error; the gateway log has the details';

/*
 * CSRF prevention (docs/graphql.md, "GET queries and CSRF").
 *
 * A cross-site page can make a browser send "simple" requests (a form post,
 * an <img>, a no-cors fetch) without a preflight, carrying the browser's
 * ambient credentials: cookies, and the browser's network position (a
 * gateway on localhost or an internal network, reachable from the browser
 * but not from the attacker). The page cannot read the answer, but the
 * request runs. This gateway sets and reads no cookies, and access tokens
 * travel in the Authorization header, which a simple request cannot carry;
 * but network position is still an ambient credential, so what a simple
 * request can run must stay harmless.
 *
 * Apollo's csrfPrevention refuses every GET without one of its preflight
 * headers, so urql's default client (queries over GET, Accept headers only)
 * cannot run a query. Apollo's `requestHeaders` option cannot express a
 * better rule, so it is off and this rule replaces it (checked in the
 * context function: after Apollo has served the explorer page to a browser
 * asking for HTML, before any operation runs):
 * - Apollo's own rule still lets through a request with a content type a
 *   simple request cannot have (application/json, ...) or with a non-empty
 *   x-apollo-operation-name or apollo-require-preflight header (a
 *   cross-site page cannot send those without a preflight, which the gateway
 *   never grants: it sends no CORS headers).
 * - Any other POST (or other method) is refused, as Apollo refuses it: a
 *   form-typed POST could run a mutation.
 * - Any other GET may run only a query: Apollo refuses mutations over GET
 *   (405), so at worst a cross-site GET spends read capacity it cannot see
 *   the answer of. Still refused, to stop timing side channels (XS-Search)
 *   on what the answers hold:
 *   - GETs the browser marks as started by another site (Sec-Fetch-Site
 *     cross-site or same-site; scripts cannot forge Sec- headers, and every
 *     current browser sends them);
 *   - GETs carrying a Cookie header (no client of this gateway needs one;
 *     an old browser without Fetch Metadata sends cookies cross-site).
 *   Non-browser clients (urql in Node, curl) and same-origin pages pass.
 */

/** Headers a cross-site simple request cannot carry (Apollo's recommended csrfPrevention headers). */
const PREFLIGHT_HEADERS = ['x-apollo-operation-name', 'apollo-require-preflight'] as const;

/** Content types a cross-site form or no-cors fetch can send without a preflight. */
const SIMPLE_CONTENT_TYPES: ReadonlySet<string> = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']);

/** A header's value as one string (several values joined), or undefined when absent. */
function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * Why the CSRF rule above refuses a GraphQL request with `method` and
 * `headers`, as a message saying how to send it instead; null when it may run.
 */
export function csrfRefusal(method: string, headers: IncomingHttpHeaders): string | null {
  if (PREFLIGHT_HEADERS.some((name) => (headerText(headers[name]) ?? '').length > 0)) return null;
  const contentType = headerText(headers['content-type']);
  const essence = contentType?.split(';')[0]?.trim().toLowerCase();
  if (essence !== undefined && !SIMPLE_CONTENT_TYPES.has(essence)) return null;
  const fix = 'or add the header apollo-require-preflight: true';
  if (method !== 'GET') {
    return `this ${method} was refused as a potential cross-site request forgery: its content type (${essence ?? 'none'}) is one a cross-site form can send; send content-type: application/json, ${fix}`;
  }
  const site = headerText(headers['sec-fetch-site'])?.trim().toLowerCase();
  if (site === 'cross-site' || site === 'same-site') {
    return `this GET query was refused as a potential cross-site request forgery: the browser says another site started it (Sec-Fetch-Site: ${site}); POST it with content-type: application/json from a page of this gateway's origin, ${fix}`;
  }
  if (headers.cookie !== undefined) {
    return `this GET query was refused as a potential cross-site request forgery: it carries a Cookie header, and the gateway uses no cookies; send it without cookies, POST it with content-type: application/json, ${fix}`;
  }
  return null;
}

/** The error a refused request is answered with: 400 BAD_REQUEST, like Apollo's own CSRF refusal. */
function csrfError(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ApolloServerErrorCode.BAD_REQUEST, http: { status: 400 } } });
}

/** Apollo's own request-level codes, kept as Apollo sets them. */
const APOLLO_CODES: ReadonlySet<string> = new Set<string>([
  ApolloServerErrorCode.GRAPHQL_PARSE_FAILED,
  ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_FOUND,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_SUPPORTED,
  ApolloServerErrorCode.BAD_USER_INPUT,
  ApolloServerErrorCode.OPERATION_RESOLUTION_FAILURE,
  ApolloServerErrorCode.BAD_REQUEST,
]);

/** What happened to an error on its way out: used for logging. */
export type ErrorDisposition = 'coded' | 'apollo' | 'bad-request' | 'masked';

/** The 4xx status Apollo gave one of its own errors (extensions.http), if any. */
function clientErrorStatus(error: GraphQLError): number | undefined {
  const http = error.extensions['http'] as { status?: unknown } | undefined;
  const status = http?.status;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/**
 * Classifies an error Apollo reports: one of our AppErrors, one of Apollo's
 * own request errors, one of Apollo's request errors that carry a 4xx status
 * but no code (a persisted query's hash that does not match its text, an
 * unsupported persisted query version: answered as BAD_REQUEST), or anything
 * else (masked).
 */
export function classifyGraphqlError(formatted: GraphQLFormattedError, error: unknown): ErrorDisposition {
  const original = unwrapResolverError(error);
  if (isAppError(original)) return 'coded';
  const code = formatted.extensions?.['code'];
  // Apollo's own errors are GraphQLErrors with no original error of another kind.
  const isOwn = original instanceof GraphQLError && (original.originalError === undefined || original.originalError instanceof GraphQLError);
  if (isOwn && typeof code === 'string' && APOLLO_CODES.has(code)) return 'apollo';
  if (isOwn && original.extensions['code'] === undefined && clientErrorStatus(original) !== undefined) return 'bad-request';
  return 'masked';
}

/**
 * Apollo's formatError: a coded AppError keeps its message, gets
 * `extensions.code` = the REST code and its details as further extensions;
 * Apollo's request errors (parse, validation, variable coercion) keep
 * Apollo's codes; anything else becomes INTERNAL_SERVER_ERROR with REST's
 * generic message. Never a stack trace (the log has them).
 */
export function formatGraphqlError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  const where = {
    ...(formatted.locations === undefined ? {} : { locations: formatted.locations }),
    ...(formatted.path === undefined ? {} : { path: formatted.path }),
  };
  switch (classifyGraphqlError(formatted, error)) {
    case 'coded': {
      const appError = original as { code: string; message: string; details: Record<string, unknown> };
      return { message: appError.message, ...where, extensions: { ...appError.details, code: appError.code } };
    }
    case 'apollo': {
      const { stacktrace: _dropped, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    case 'bad-request':
      return { message: formatted.message, ...where, extensions: { code: ApolloServerErrorCode.BAD_REQUEST } };
    case 'masked':
      return { message: MASKED_MESSAGE, ...where, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  }
}

/** Logs masked errors at error level and 5xx-class coded errors at warn, with the request's reqId. */
function errorLoggingPlugin(): ApolloServerPlugin<GraphqlContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue }) {
          for (const error of errors) {
            const original = unwrapResolverError(error);
            if (isAppError(original)) {
              if (original.status >= 500) contextValue.logger.warn({ code: original.code, details: original.details }, original.message);
              continue;
            }
            if (classifyGraphqlError({ message: error.message, extensions: error.extensions }, error) === 'masked') {
              contextValue.logger.error({ err: original, path: error.path }, 'unexpected GraphQL error');
            }
          }
        },
      };
    },
  };
}

/** Reads schema.graphql from the repository root (two levels above src/ or dist/src/). */
function loadSchemaText(): string {
  for (const relative of ['../../../schema.graphql', '../../../../schema.graphql']) {
    try {
      return readFileSync(new URL(relative, import.meta.url), 'utf8');
    } catch {
      // try the next layout
    }
  }
  throw new Error('schema.graphql not found next to src/ or dist/; it ships at the repository root');
}

/** The page GET /graphql serves to browsers (--graphql_explorer; explorer.ts). */
function landingPage(config: Config): ApolloServerPlugin<GraphqlContext> {
  switch (config.graphql.explorer) {
    case 'sandbox':
      return sandboxLandingPage();
    case 'graphiql':
      return graphiqlLandingPage(GRAPHQL_PATH);
    case 'off':
      return ApolloServerPluginLandingPageDisabled();
  }
}

/**
 * Apollo Server for schema.graphql with the gateway's options: introspection
 * per --graphql_introspection, the explorer page per --graphql_explorer,
 * the CSRF rule of csrfRefusal instead of Apollo's, depth, statement
 * and cost limits from config.graphql (query-limits.ts), errors shaped by formatGraphqlError, and
 * Apollo's reporting, tracing and cache-control plugins off. Not started.
 */
export function createApolloServer(config: Config): ApolloServer<GraphqlContext> {
  return new ApolloServer<GraphqlContext>({
    typeDefs: loadSchemaText(),
    resolvers,
    introspection: config.graphql.introspection,
    // Replaced by csrfRefusal (above), checked in registerGraphql's context function.
    csrfPrevention: false,
    // main.ts owns signal handling; Apollo stops with the fastify server (registerGraphql).
    stopOnTerminationSignals: false,
    includeStacktraceInErrorResponses: false,
    formatError: (formatted, error) => formatGraphqlError(formatted, error),
    validationRules: [
      operationLimitsRule({
        maxDepth: config.graphql.maxDepth,
        maxCost: config.graphql.maxCost,
        maxStatements: config.graphql.maxStatements,
        queryMaxRows: config.queryMaxRows,
      }),
    ],
    plugins: [
      landingPage(config),
      errorLoggingPlugin(),
      accessPlugin(),
      // Parse, validation and variable errors: 200 for application/json clients, 400 for graphql-response+json ones.
      requestErrorStatusPlugin(),
      // Apollo's default plugins, off: no field here has a cache hint (every
      // answer is live data), and nothing reports to Apollo's cloud. The cache
      // control plugin alone wrapped every field's resolution on every request.
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
      ApolloServerPluginSchemaReportingDisabled(),
    ],
  });
}

/** The document and variables bounds of `config` (document-limits.ts). */
export function documentLimits(config: Config): DocumentLimits {
  return { maxTokens: maxTokensFor(config.graphql.maxCost), maxNesting: config.limits.bodyMaxDepth };
}

/**
 * Starts Apollo Server (createApolloServer) and serves it on `server` at
 * /graphql (GET, POST, OPTIONS), after the document-limits.ts checks (a
 * request past them is answered 400 without reaching Apollo) and the CSRF
 * rule (csrfRefusal); and, unless --graphql_explorer=off, the offline
 * GraphiQL page at /graphql/explorer with its assets. Apollo is stopped
 * when `server` closes.
 */
export async function registerGraphql(server: FastifyInstance, services: Services, config: Config): Promise<void> {
  const apollo = createApolloServer(config);
  await apollo.start();
  // Not fastifyApolloDrainPlugin: it closes fastify from apollo.stop(), while
  // here fastify's close (App.close) is what stops Apollo.
  server.addHook('onClose', async () => {
    await apollo.stop();
  });
  const limits = documentLimits(config);
  const checkLimits: preHandlerAsyncHookHandler = async (request, reply) => {
    const source = (request.method === 'GET' ? request.query : request.body) as { query?: unknown; variables?: unknown } | null | undefined;
    if (source === undefined || source === null || typeof source !== 'object' || Array.isArray(source)) return;
    // A POST body was parsed under --body_max_depth, its variables a level below (server.ts).
    const error = checkRequest(source.query, source.variables, limits, request.method === 'POST');
    if (error === null) return;
    const answer = requestErrorAnswer(request.headers.accept);
    await reply
      .code(answer.status)
      .type(answer.contentType)
      .send({ errors: [formatGraphqlError(error.toJSON(), error)] });
  };
  server.route({
    url: GRAPHQL_PATH,
    method: ['GET', 'POST', 'OPTIONS'],
    // ingestLogs stores each event's own text as its raw copy (context.bodyText).
    config: { keepBodyText: true },
    preHandler: checkLimits,
    handler: fastifyApolloHandler(apollo, {
      // Apollo calls this after serving the explorer page to a browser, before running anything.
      context: async (request, reply) => {
        const refusal = csrfRefusal(request.method, request.headers);
        if (refusal !== null) throw csrfError(refusal);
        // A client that goes away before its answer cancels the operation's queries.
        const gone = new AbortController();
        reply.raw.once('close', () => reply.raw.writableEnded || gone.abort());
        const bodyText = request.bodyText;
        request.bodyText = undefined;
        return {
          services,
          logger: request.log,
          requestId: request.id,
          statements: new StatementBudget(config.graphql.maxStatements),
          signal: gone.signal,
          principal: request.principal,
          bodyText,
        };
      },
    }),
  });
  if (config.graphql.explorer !== 'off') registerExplorer(server, GRAPHQL_PATH);
}
