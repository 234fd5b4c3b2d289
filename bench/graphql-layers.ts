/**
 * `npm run bench:graphql-layers [-- --rounds=N --ops=N]`: what each layer of
 * the GraphQL transport costs per request, in process, for the query of
 * scenario 7b (`rawQuery(query: $query) { results }`, one row back).
 *
 * It runs compiled (`tsc -p tsconfig.bench.json`, then
 * `node dist/bench/graphql-layers.js`), as the gateway does in production: under tsx, Apollo's
 * per-request `module.require('crypto')` passes through tsx's resolver hooks
 * and the figures come out inflated.
 *
 * The query service is a stand-in that answers one fixed row, so only the
 * transport is measured; the real service and the real servers are what
 * `npm run bench -- --only=7` measures. The layers, each including the ones
 * before it:
 * 1. graphql-js `execute` on the gateway's schema and resolvers, document parsed once;
 * 2. Apollo Server's `executeOperation` (its request pipeline: document hash
 *    and cache, plugin hooks, execution, error formatting);
 * 3. Apollo Server's `executeHTTPGraphQLRequest`, called as
 *    @as-integrations/fastify calls it (headers copied into a HeaderMap, the
 *    URL parsed), which adds the HTTP checks, content negotiation and the
 *    JSON text of the response.
 * Rounds alternate the layers; medians are printed in microseconds.
 */
import { HeaderMap } from '@apollo/server';
import { execute, parse, type GraphQLSchema } from 'graphql/index.js';
import { loadConfig } from '../src/config/config.js';
import { createApolloServer } from '../src/http/graphql/apollo.js';
import { createLogger } from '../src/logging/logger.js';
import type { GraphqlContext } from '../src/http/graphql/context.js';
import { StatementBudget } from '../src/http/graphql/statement-budget.js';
import type { Services } from '../src/services/services.js';
import { median } from './lib/stats.js';

const QUERY = 'query Raw($query: String!) { rawQuery(query: $query) { results } }';
const ROW = { id: 1, name: 'spot', breed: 'labrador', weight: 100, timestamp: '2026-11-28T00:00:00.000000Z' };

function flag(name: string, fallback: number): number {
  const given = process.argv.find((a) => a.startsWith(`--${name}=`));
  const value = given === undefined ? fallback : Number(given.slice(name.length + 3));
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer`);
  return value;
}

async function main(): Promise<void> {
  const rounds = flag('rounds', 7);
  const ops = flag('ops', 20000);
  const services = {
    query: { query: async () => ({ results: [ROW], columns: [], truncated: false, shards: ['shard_a'], elapsedMs: 0.1 }) },
  } as unknown as Services;
  // One context for every operation, so no statement limit (the gateway makes one budget per request).
  const context: GraphqlContext = { services, logger: createLogger('silent'), requestId: 'bench', statements: new StatementBudget(Number.POSITIVE_INFINITY) };
  const config = loadConfig([], { NODE_ENV: 'production' });
  const apollo = createApolloServer(config);
  let schema: GraphQLSchema | undefined;
  apollo.addPlugin({
    async serverWillStart(service) {
      schema = service.schema;
    },
  });
  await apollo.start();
  if (schema === undefined) throw new Error('Apollo started without reporting its schema');
  const startedSchema = schema;
  const document = parse(QUERY);
  const headers: Record<string, string> = { host: '127.0.0.1:8080', 'content-type': 'application/json', 'content-length': '140' };

  const layers: Array<[string, (i: number) => Promise<unknown>]> = [
    ['graphql-js execute', async (i) => execute({ schema: startedSchema, document, variableValues: { query: `SELECT ${i}` }, contextValue: context })],
    ['Apollo executeOperation', (i) => apollo.executeOperation({ query: QUERY, variables: { query: `SELECT ${i}` } }, { contextValue: context })],
    [
      'Apollo executeHTTPGraphQLRequest',
      (i) => {
        const map = new HeaderMap();
        for (const [key, value] of Object.entries(headers)) map.set(key, value);
        return apollo.executeHTTPGraphQLRequest({
          httpGraphQLRequest: {
            method: 'POST',
            headers: map,
            search: new URL('/graphql', 'http://127.0.0.1:8080/').search,
            body: { query: QUERY, variables: { query: `SELECT ${i}` } },
          },
          context: async () => context,
        });
      },
    ],
  ];
  const samples = new Map<string, number[]>(layers.map(([name]) => [name, []]));
  for (let round = -1; round < rounds; round++) {
    for (const [name, run] of layers) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < ops; i++) await run(i);
      const microseconds = Number(process.hrtime.bigint() - started) / 1000 / ops;
      if (round >= 0) samples.get(name)?.push(microseconds);
    }
  }
  await apollo.stop();
  process.stdout.write(`GraphQL transport layers, in process (Node ${process.version}; ${rounds} rounds of ${ops} operations; medians)\n`);
  let previous = 0;
  for (const [name] of layers) {
    const value = median(samples.get(name) ?? []);
    process.stdout.write(`${name.padEnd(34)} ${value.toFixed(1).padStart(7)} us/request  (+${(value - previous).toFixed(1)} us over the layer above)\n`);
    previous = value;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
