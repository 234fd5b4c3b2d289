/**
 * Event shapes and generators for the benchmark, and the SQL a direct client
 * writes for the same events (the baselines). The SQL mirrors what the
 * gateway's ingest service sends: one multi-row INSERT into the family table
 * (declared columns plus `_ingested_at`) and one into raw_logs
 * (`family`, `log`, `_ingested_at`). Pure.
 */
import { escape } from 'mysql2';
import { seededRandom } from './stats.js';

/** Declared field types used by the benchmark shapes (canonical names). */
export type FieldType = 'string' | 'int' | 'float' | 'bool' | 'timestamp' | 'date' | 'json';

/** One declared field. */
export interface FieldSpec {
  name: string;
  type: FieldType;
}

/** One log event as a client sends it. */
export type LogEvent = Record<string, unknown>;

/** The seed's dog_registry shape, three fields. */
export const DOG_FIELDS: readonly FieldSpec[] = [
  { name: 'name', type: 'string' },
  { name: 'breed', type: 'string' },
  { name: 'weight', type: 'int' },
];

/** A wide shape: 20 fields of every declared type. */
export const WIDE_FIELDS: readonly FieldSpec[] = [
  { name: 'host', type: 'string' },
  { name: 'service', type: 'string' },
  { name: 'message', type: 'string' },
  { name: 'level', type: 'string' },
  { name: 'region', type: 'string' },
  { name: 'status', type: 'int' },
  { name: 'bytes', type: 'int' },
  { name: 'pid', type: 'int' },
  { name: 'duration_us', type: 'int' },
  { name: 'cpu', type: 'float' },
  { name: 'mem', type: 'float' },
  { name: 'latency_ms', type: 'float' },
  { name: 'score', type: 'float' },
  { name: 'ok', type: 'bool' },
  { name: 'cached', type: 'bool' },
  { name: 'started_at', type: 'timestamp' },
  { name: 'ended_at', type: 'timestamp' },
  { name: 'day', type: 'date' },
  { name: 'tags', type: 'json' },
  { name: 'meta', type: 'json' },
];

/** Breeds of the dog shape; scenario 5 filters on one of them. */
export const BREEDS = ['beagle', 'labrador', 'poodle', 'boxer', 'husky', 'collie', 'pug', 'terrier', 'spaniel', 'greyhound'] as const;

const SERVICES = ['api', 'auth', 'billing', 'search', 'web', 'worker'];
const LEVELS = ['debug', 'info', 'warn', 'error'];
const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1'];
const WORDS = ['request', 'handled', 'user', 'cache', 'miss', 'timeout', 'retry', 'ok', 'slow', 'query', 'shard', 'batch'];

/** `{field: type}` as a client declares it. */
export function schemaObject(fields: readonly FieldSpec[]): Record<string, string> {
  return Object.fromEntries(fields.map((f) => [f.name, f.type]));
}

function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)] as T;
}

function valueFor(field: FieldSpec, random: () => number, n: number): unknown {
  switch (field.name) {
    case 'name':
      return `dog-${n}-${Math.floor(random() * 1e6)}`;
    case 'breed':
      return pick(BREEDS, random);
    case 'weight':
      return 1 + Math.floor(random() * 90);
    case 'host':
      return `web-${Math.floor(random() * 50)}.example.internal`;
    case 'service':
      return pick(SERVICES, random);
    case 'level':
      return pick(LEVELS, random);
    case 'region':
      return pick(REGIONS, random);
    case 'message':
      return Array.from({ length: 6 }, () => pick(WORDS, random)).join(' ');
    default:
      break;
  }
  const base = Date.UTC(2024, 0, 1) + Math.floor(random() * 365 * 86_400_000);
  switch (field.type) {
    case 'string':
      return `s${Math.floor(random() * 1e9)}`;
    case 'int':
      return Math.floor(random() * 1_000_000);
    case 'float':
      return Math.round(random() * 1e6) / 1e3;
    case 'bool':
      return random() < 0.5;
    case 'timestamp':
      return new Date(base).toISOString();
    case 'date':
      return new Date(base).toISOString().slice(0, 10);
    case 'json':
      return field.name === 'tags'
        ? [pick(WORDS, random), pick(WORDS, random)]
        : { build: Math.floor(random() * 1000), canary: random() < 0.1, zone: pick(REGIONS, random) };
  }
}

/** `count` deterministic events of `fields`, seeded by `seed`. */
export function makeEvents(fields: readonly FieldSpec[], count: number, seed: number): LogEvent[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, n) => Object.fromEntries(fields.map((f) => [f.name, valueFor(f, random, n)])));
}

/** `count` batches of `size` events each, all different. */
export function makeBatches(fields: readonly FieldSpec[], count: number, size: number, seed: number): LogEvent[][] {
  return Array.from({ length: count }, (_, i) => makeEvents(fields, size, seed * 1000 + i));
}

/** The PUT /api/log body. */
export function restIngestBody(family: string, fields: readonly FieldSpec[], events: readonly LogEvent[]): Buffer {
  return Buffer.from(JSON.stringify({ family, schema: schemaObject(fields), logs: events }));
}

/** The GraphQL ingestLogs mutation body (variables, so the events are JSON, not GraphQL literals). */
export function graphqlIngestBody(family: string, fields: readonly FieldSpec[], events: readonly LogEvent[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      query: 'mutation Ingest($family: String!, $schema: JSONObject!, $logs: [JSONObject!]!) { ingestLogs(family: $family, schema: $schema, logs: $logs) { ingested } }',
      variables: { family, schema: schemaObject(fields), logs: events },
    }),
  );
}

/** The POST /api/query body. */
export function restQueryBody(sql: string): Buffer {
  return Buffer.from(JSON.stringify({ query: sql }));
}

/** The GraphQL rawQuery body. */
export function graphqlQueryBody(sql: string): Buffer {
  return Buffer.from(
    JSON.stringify({ query: 'query Raw($query: String!) { rawQuery(query: $query) { results } }', variables: { query: sql } }),
  );
}

/** Backtick-quoted identifier. */
export function quoteId(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC) for DATETIME(6), as the gateway writes it. */
export function sqlDateTime(date: Date): string {
  return `${date.toISOString().slice(0, 23).replace('T', ' ')}000`;
}

function sqlValue(field: FieldSpec, value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  switch (field.type) {
    case 'timestamp':
      return escape(sqlDateTime(new Date(String(value))));
    case 'json':
      return escape(JSON.stringify(value));
    default:
      return escape(value as string | number | boolean);
  }
}

/** The two statements of one direct ingest transaction. */
export interface DirectInsert {
  familySql: string;
  rawSql: string;
}

/**
 * The INSERTs a direct client sends for `events`: the same columns, values
 * and raw_logs JSON copy as the gateway's ingest transaction.
 */
export function directInsertSql(family: string, fields: readonly FieldSpec[], events: readonly LogEvent[], now: Date): DirectInsert {
  const at = escape(sqlDateTime(now));
  // The gateway's layout: the raw copy is the family row's `_raw` (raw_logs is a view over it), one INSERT.
  const columns = [...fields.map((f) => quoteId(f.name)), '`_ingested_at`', '`_raw`'].join(', ');
  const tuples = events.map((event) => `(${fields.map((f) => sqlValue(f, event[f.name])).join(',')},${at},${escape(JSON.stringify(event))})`);
  return {
    familySql: `INSERT INTO ${quoteId(family)} (${columns}) VALUES ${tuples.join(',')}`,
    rawSql: '',
  };
}

/** One event's INSERTs, for the seed's one-INSERT-per-event floor. */
export function singleEventSql(family: string, fields: readonly FieldSpec[], event: LogEvent, now: Date): DirectInsert {
  return directInsertSql(family, fields, [event], now);
}
