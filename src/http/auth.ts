/**
 * Access control on every route: one table ({@link ROUTE_ACCESS}) says what
 * each route needs, and two hooks enforce it before any handler runs.
 *
 * - `onRequest` (before the body is read): the route's rule; the token from
 *   `Authorization: Bearer <token>` (401 UNAUTHENTICATED with
 *   `WWW-Authenticate: Bearer`); one request charged to its
 *   requests_per_minute (429 RATE_LIMITED, Retry-After); the route's scope
 *   and a `:family` path parameter against the token's patterns (403
 *   FORBIDDEN). The principal lands on `request.principal` and the token's
 *   name on the request's logger (`token`).
 * - `preHandler` (body parsed): a family named in the body (`PUT /api/log`).
 *
 * Deny by default: with access control on, a route missing from the table is
 * refused (403), and test/unit/http/route-access.test.ts fails for it. What
 * the handlers check themselves: the tables of a SQL query (query service),
 * the events of an ingest (events_per_minute, after validation, before the
 * write), and GraphQL's operations (graphql/access-plugin.ts; the explorer
 * page itself loads without a token). With access control off every request
 * is ANONYMOUS, which may do everything.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, isAppError } from '../errors/app-error.js';
import { ANONYMOUS, type AccessService, type Principal } from '../services/access-service.js';
import type { Scope } from '../config/tokens.js';
import type { Metrics } from './metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request is (http/auth.ts); null on public routes and the explorer page while access control is on. */
    principal: Principal | null;
  }
}

/** What a route needs. */
export type RouteAccess =
  /** Anyone, no token looked at. */
  | { readonly kind: 'public' }
  /** A token is optional; a wrong one is 401. /readyz: details only for metrics or admin. */
  | { readonly kind: 'optional' }
  /** A token with `scope`; `family` says where the route names a family checked against the token's patterns. */
  | { readonly kind: 'scope'; readonly scope: Scope; readonly family?: 'param' | 'body' }
  /** GraphQL: a token; each operation's fields are checked by graphql/access-plugin.ts. GET with Accept text/html (the explorer) is public. */
  | { readonly kind: 'graphql' };

const PUBLIC: RouteAccess = { kind: 'public' };
const GRAPHQL: RouteAccess = { kind: 'graphql' };
const admin = (family?: 'param' | 'body'): RouteAccess => (family === undefined ? { kind: 'scope', scope: 'admin' } : { kind: 'scope', scope: 'admin', family });

/**
 * Every route, as `METHOD url` (fastify's route url; HEAD follows GET). A new
 * route needs an entry here, or it is refused with access control on.
 */
export const ROUTE_ACCESS: Readonly<Record<string, RouteAccess>> = Object.freeze({
  'GET /': PUBLIC,
  'GET /healthz': PUBLIC,
  'GET /readyz': { kind: 'optional' },
  'GET /metrics': { kind: 'scope', scope: 'metrics' },
  'PUT /api/log': { kind: 'scope', scope: 'ingest', family: 'body' },
  // Schemaless events (osquery.routes.ts); osquery shippers; osqueryd's TLS API (the enroll secret and the node key protect it).
  'POST /api/log/:family': { kind: 'scope', scope: 'ingest', family: 'param' },
  'POST /api/osquery/results': { kind: 'scope', scope: 'ingest' },
  'POST /api/osquery/enroll': PUBLIC,
  'POST /api/osquery/log': PUBLIC,
  'DELETE /api/log/:family': admin('param'),
  'POST /api/query': { kind: 'scope', scope: 'query' },
  'GET /api/describe': { kind: 'scope', scope: 'query' },
  'GET /api/families/:family/retention': admin('param'),
  'PUT /api/families/:family/retention': admin('param'),
  'DELETE /api/families/:family/retention': admin('param'),
  'GET /api/families/:family/placement': admin('param'),
  'PUT /api/families/:family/placement': admin('param'),
  'POST /api/families/:family/move': admin('param'),
  'GET /api/families/:family/move': admin('param'),
  'DELETE /api/families/:family/move': admin('param'),
  'GET /api/rebalance': admin(),
  'POST /api/rebalance': admin(),
  'GET /graphql': GRAPHQL,
  'POST /graphql': GRAPHQL,
  'OPTIONS /graphql': GRAPHQL,
  // The offline explorer's page and static files (graphql/explorer.ts): no data, no operations.
  'GET /graphql/explorer': PUBLIC,
  'GET /graphql/explorer/assets/:name': PUBLIC,
});

/** The table key of a route: HEAD is answered by its GET route. */
export function routeKey(method: string, url: string): string {
  return `${method === 'HEAD' ? 'GET' : method} ${url}`;
}

/** The rule of `request`'s route, or undefined when the table has none. */
function ruleOf(request: FastifyRequest): RouteAccess | undefined {
  const url = request.routeOptions.url;
  return url === undefined ? undefined : ROUTE_ACCESS[routeKey(request.method, url)];
}

/** The q of the most specific range in `accept` matching `type` (exact, type/*, then *\/*); 0 when none. */
function qualityOf(ranges: ReadonlyArray<{ type: string; q: number }>, type: string): number {
  const major = `${type.split('/')[0]}/*`;
  for (const candidate of [type, major, '*/*']) {
    const range = ranges.find((r) => r.type === candidate);
    if (range !== undefined) return range.q;
  }
  return 0;
}

/**
 * True when a GET asks for HTML over JSON, as Apollo decides whether to serve
 * its landing page (the explorer). A mistake either way is safe: an operation
 * sent this way still needs a token (the plugin refuses it), and a page
 * asked for this way just needs one.
 */
export function wantsExplorerPage(method: string, accept: string | undefined): boolean {
  if (method !== 'GET' || accept === undefined || accept === '') return false;
  const ranges = accept.split(',').map((part) => {
    const [type = '', ...parameters] = part.split(';').map((s) => s.trim().toLowerCase());
    const qParameter = parameters.find((p) => p.startsWith('q='));
    const q = qParameter === undefined ? 1 : Number(qParameter.slice(2));
    return { type, q: Number.isFinite(q) ? q : 0 };
  });
  const html = qualityOf(ranges, 'text/html');
  const json = Math.max(qualityOf(ranges, 'application/json'), qualityOf(ranges, 'application/graphql-response+json'), qualityOf(ranges, 'multipart/mixed'));
  return html > 0 && html > json;
}

/** The principal the access hooks put on `request`; throws when a route without a token rule asks (a bug). */
export function principalOf(request: FastifyRequest): Principal {
  const principal = request.principal;
  if (principal === null) throw new AppError('INTERNAL_SERVER_ERROR', 'internal error; the gateway log has the details', { reason: 'no principal on a route that needs one' });
  return principal;
}

/** The GraphQL answer of a refused request: the same code, message and details as the REST envelope. */
function sendGraphqlError(reply: FastifyReply, error: AppError): FastifyReply {
  return reply
    .code(error.status)
    .type('application/json; charset=utf-8')
    .send({ errors: [{ message: error.message, extensions: { ...error.details, code: error.code } }] });
}

/** Headers every transport sends with these refusals: WWW-Authenticate on 401, Retry-After on 429. */
export function refusalHeaders(error: AppError): Record<string, string> {
  if (error.code === 'UNAUTHENTICATED') return { 'www-authenticate': 'Bearer' };
  const retryAfter = error.details['retryAfterSeconds'];
  if (error.code === 'RATE_LIMITED' && typeof retryAfter === 'number') return { 'retry-after': String(Math.max(1, Math.ceil(retryAfter))) };
  return {};
}

/** Registers the access hooks on `server` (before any route). */
export function registerAccess(server: FastifyInstance, access: AccessService, metrics: Metrics): void {
  server.decorateRequest('principal', null);

  /** Authenticates, charges and checks `request` against `rule`. */
  const admit = async (request: FastifyRequest, rule: RouteAccess | undefined): Promise<void> => {
    if (rule === undefined) {
      metrics.tokenRefused.inc({ token: 'none', reason: 'no_rule' });
      throw new AppError(
        'FORBIDDEN',
        `${request.method} ${request.routeOptions.url ?? ''} has no access rule, so no token may use it; this is a gateway bug: report it`,
        { route: request.routeOptions.url ?? '' },
      );
    }
    if (rule.kind === 'public') return;
    if (rule.kind === 'optional' && request.headers.authorization === undefined) return;
    if (rule.kind === 'graphql' && wantsExplorerPage(request.method, request.headers.accept)) return;
    const principal = access.authenticate(request.headers.authorization);
    request.principal = principal;
    request.log = request.log.child({ token: principal.name });
    await access.chargeRequest(principal);
    if (rule.kind === 'scope') {
      const family = rule.family === 'param' ? (request.params as { family?: unknown }).family : undefined;
      access.require(principal, rule.scope, typeof family === 'string' ? [family] : []);
    }
  };

  // Bound once: prom-client hashes a label set on every inc() given one.
  const anonymousRequests = metrics.tokenRequests.labels({ token: ANONYMOUS.name });
  server.addHook('onRequest', (request, reply, done) => {
    // Not found (404, 405): the not-found handler answers; nothing runs.
    if (request.is404) {
      done();
      return;
    }
    if (!access.enabled) {
      request.principal = ANONYMOUS;
      anonymousRequests.inc();
      done();
      return;
    }
    const rule = ruleOf(request);
    admit(request, rule).then(
      () => done(),
      (error: unknown) => {
        if (!isAppError(error)) {
          done(error as Error);
          return;
        }
        void reply.headers(refusalHeaders(error));
        // Answered here: fastify runs nothing further once a hook has sent the reply (done is not called).
        if (rule?.kind === 'graphql') sendGraphqlError(reply, error);
        else done(error);
      },
    );
  });

  server.addHook('preHandler', (request, _reply, done) => {
    if (!access.enabled || request.is404) {
      done();
      return;
    }
    const rule = ruleOf(request);
    if (rule?.kind !== 'scope' || rule.family !== 'body') {
      done();
      return;
    }
    const body = request.body as { family?: unknown } | null | undefined;
    const family = typeof body === 'object' && body !== null ? body.family : undefined;
    try {
      // A missing or malformed family is the handler's 400.
      if (typeof family === 'string') access.require(principalOf(request), rule.scope, [family]);
      done();
    } catch (error) {
      done(error as Error);
    }
  });

  // The request log: one debug line per answer, with the token's name (never the header).
  server.addHook('onResponse', (request, reply, done) => {
    done();
    // Not even the line's object is built unless it is written.
    if (request.log.level !== 'debug' && request.log.level !== 'trace') return;
    // An authenticated request's logger already carries `token`.
    const principal = request.principal;
    const token = principal === null || principal.anonymous ? { token: principal?.name ?? null } : {};
    request.log.debug(
      { ...token, method: request.method, route: request.routeOptions.url ?? null, status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });
}
