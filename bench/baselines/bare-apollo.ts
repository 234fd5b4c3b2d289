/**
 * The "bare Apollo" baseline of scenario 7b: Apollo Server 5 on fastify
 * through @as-integrations/fastify, one resolver, `rawQuery(query)`, that
 * runs the SQL through a mysql2 pool and returns the rows, with the same
 * Apollo plugins disabled as the gateway (src/http/graphql/apollo.ts: cache
 * control, inline trace, usage and schema reporting, landing page). No
 * validation, limits or error shaping. Run as a separate process by
 * bench/lib/baseline-servers.ts; prints `listening <port>` once ready. Never
 * expose it: it runs any SQL it is sent.
 *
 * Environment: BENCH_TARGET = JSON {host, port, user, password, database}.
 */
import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginSchemaReportingDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import Fastify from 'fastify';
import { GraphQLJSONObject } from 'graphql-scalars';
import mysql from 'mysql2/promise';

const target = JSON.parse(process.env['BENCH_TARGET'] ?? '{}') as mysql.PoolOptions;
const pool = mysql.createPool({
  ...target,
  connectionLimit: 4,
  charset: 'utf8mb4_unicode_ci',
  timezone: 'Z',
  dateStrings: true,
  supportBigNumbers: true,
});

const typeDefs = `
scalar JSONObject
type QueryResult { results: [JSONObject!]! }
type Query { rawQuery(query: String!): QueryResult! }
`;

const apollo = new ApolloServer({
  typeDefs,
  resolvers: {
    JSONObject: GraphQLJSONObject,
    Query: {
      rawQuery: async (_parent: unknown, args: { query: string }) => {
        const [rows] = await pool.query(args.query);
        return { results: rows };
      },
    },
  },
  stopOnTerminationSignals: false,
  includeStacktraceInErrorResponses: false,
  plugins: [
    ApolloServerPluginLandingPageDisabled(),
    ApolloServerPluginCacheControlDisabled(),
    ApolloServerPluginInlineTraceDisabled(),
    ApolloServerPluginUsageReportingDisabled(),
    ApolloServerPluginSchemaReportingDisabled(),
  ],
});

const server = Fastify({ logger: false, keepAliveTimeout: 65_000 });
await apollo.start();
server.route({ url: '/graphql', method: ['GET', 'POST', 'OPTIONS'], handler: fastifyApolloHandler(apollo) });
const address = await server.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`listening ${new URL(address).port}\n`);
process.once('SIGTERM', () => {
  void server
    .close()
    .then(() => apollo.stop())
    .then(() => pool.end())
    .finally(() => process.exit(0));
});
