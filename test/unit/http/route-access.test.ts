/**
 * Deny by default: every route the gateway registers has an entry in
 * http/auth.ts's ROUTE_ACCESS (a scope, or explicitly public), every entry
 * is a real route, and every root field of schema.graphql has an entry in
 * graphql/access-plugin.ts's FIELD_ACCESS. Also the explorer-page test
 * (Accept negotiation) the public GET /graphql page rests on.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildSchema } from 'graphql/index.js';
import { loadConfig } from '../../../src/config/config.js';
import { createLogger } from '../../../src/logging/logger.js';
import { createHttpServer } from '../../../src/http/server.js';
import { registerRoutes } from '../../../src/http/routes.js';
import { createMetrics } from '../../../src/http/metrics.js';
import { ROUTE_ACCESS, routeKey, wantsExplorerPage } from '../../../src/http/auth.js';
import { FIELD_ACCESS } from '../../../src/http/graphql/access-plugin.js';
import { AccessService } from '../../../src/services/access-service.js';
import type { Services } from '../../../src/services/services.js';

/** The METHOD url of every route registerRoutes adds (HEAD as GET), with the explorer on. */
async function registeredRoutes(): Promise<string[]> {
  const config = loadConfig(['--graphql_explorer=graphiql'], {});
  const server = createHttpServer(config, createLogger('silent'));
  const routes = new Set<string>();
  server.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.add(routeKey(method, route.url));
  });
  // Registration never calls a service; only access is read while registering.
  const services = { access: new AccessService({ tokens: null }) } as unknown as Services;
  await registerRoutes(server, services, createMetrics(), config);
  await server.close();
  return [...routes].sort();
}

describe('route access table', () => {
  it('has a rule for every registered route, and no rule for a route that does not exist', async () => {
    const routes = await registeredRoutes();
    expect(routes.length).toBeGreaterThan(10);
    expect(routes.filter((route) => !Object.hasOwn(ROUTE_ACCESS, route)), 'routes without an access rule: add them to ROUTE_ACCESS').toEqual([]);
    expect(Object.keys(ROUTE_ACCESS).filter((key) => !routes.includes(key)), 'rules for routes that do not exist').toEqual([]);
  });

  it('keeps health, root and the explorer page public and everything that touches data behind a scope', () => {
    const publicRoutes = Object.entries(ROUTE_ACCESS)
      .filter(([, rule]) => rule.kind === 'public')
      .map(([key]) => key)
      .sort();
    // osqueryd's TLS API: the enroll secret and the node key protect it (osqueryd sends no bearer token).
    expect(publicRoutes).toEqual(['GET /', 'GET /graphql/explorer', 'GET /graphql/explorer/assets/:name', 'GET /healthz', 'POST /api/osquery/enroll', 'POST /api/osquery/log']);
    expect(ROUTE_ACCESS['PUT /api/log']).toEqual({ kind: 'scope', scope: 'ingest', family: 'body' });
    expect(ROUTE_ACCESS['DELETE /api/log/:family']).toEqual({ kind: 'scope', scope: 'admin', family: 'param' });
    expect(ROUTE_ACCESS['GET /metrics']).toEqual({ kind: 'scope', scope: 'metrics' });
  });
});

describe('GraphQL field access table', () => {
  const schema = buildSchema(readFileSync(new URL('../../../schema.graphql', import.meta.url), 'utf8'));

  it('has a rule for every root field of schema.graphql, and only for those (plus introspection)', () => {
    for (const [operation, type] of [
      ['query', schema.getQueryType()],
      ['mutation', schema.getMutationType()],
    ] as const) {
      const fields = Object.keys(type?.getFields() ?? {}).sort();
      const rules = Object.keys(FIELD_ACCESS[operation])
        .filter((name) => !name.startsWith('__'))
        .sort();
      expect(rules, operation).toEqual(fields);
    }
    expect(schema.getSubscriptionType()).toBeFalsy();
  });

  it('names a family argument that exists on the field', () => {
    for (const operation of ['query', 'mutation'] as const) {
      const type = operation === 'query' ? schema.getQueryType() : schema.getMutationType();
      for (const [name, rule] of Object.entries(FIELD_ACCESS[operation])) {
        if (rule.familyArgument === undefined) continue;
        const field = type?.getFields()[name];
        expect(field?.args.map((a) => a.name), `${operation}.${name}`).toContain(rule.familyArgument);
      }
    }
  });
});

describe('wantsExplorerPage', () => {
  it('is true for a browser navigation and false for API clients', () => {
    const browser = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';
    expect(wantsExplorerPage('GET', browser)).toBe(true);
    expect(wantsExplorerPage('GET', 'text/html')).toBe(true);
    expect(wantsExplorerPage('POST', browser)).toBe(false);
    expect(wantsExplorerPage('GET', undefined)).toBe(false);
    expect(wantsExplorerPage('GET', '*/*')).toBe(false);
    expect(wantsExplorerPage('GET', 'application/json')).toBe(false);
    expect(wantsExplorerPage('GET', 'application/graphql-response+json, application/json;q=0.9')).toBe(false);
    expect(wantsExplorerPage('GET', 'text/html;q=0.5, application/json')).toBe(false);
    expect(wantsExplorerPage('GET', 'text/html;q=0')).toBe(false);
  });
});
