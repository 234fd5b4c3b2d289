/**
 * REST routes for logs sent without a declared schema (docs/osquery.md):
 *
 * - osquery's TLS remote API, for osqueryd with --logger_plugin=tls:
 *   POST /api/osquery/enroll and POST /api/osquery/log (answers as osqueryd
 *   expects: 200 with `node_invalid: true` to make it enroll again);
 * - POST /api/osquery/results: osqueryd's results log as shippers forward
 *   it (NDJSON or a JSON array);
 * - POST /api/log/{family}: JSON events whose types are inferred.
 *
 * Bodies keep their text (big integers stay exact), gzip allowed.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError, badInput } from '../../errors/app-error.js';
import type { Services } from '../../services/services.js';
import { accessGuard } from '../../services/osquery-service.js';
import { principalOf } from '../auth.js';
import { depthExceededAt, describeJsonError, type BodyTextParser } from './request-body.js';

/** Media types of line-delimited JSON, and what `curl --data-binary @file` sends without -H. */
const LINE_TYPES = ['application/x-ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/json-seq', 'text/plain', 'application/x-www-form-urlencoded'];

/** Marks a body kept as text for the handler to parse. */
interface LinesBody {
  lines: string;
}

const asLines: BodyTextParser = (text) => ({ lines: text }) satisfies LinesBody;

function isLines(body: unknown): body is LinesBody {
  return typeof body === 'object' && body !== null && typeof (body as Partial<LinesBody>).lines === 'string';
}

const LINE_PARSERS: Readonly<Record<string, BodyTextParser>> = Object.freeze(Object.fromEntries(LINE_TYPES.map((type) => [type, asLines])));

function headerOf(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The body's text, or BAD_USER_INPUT when there is none. */
function textOf(request: FastifyRequest, what: string): string {
  const body = request.body;
  const text = isLines(body) ? body.lines : request.bodyText;
  if (text === undefined || text.trim() === '') throw badInput(`the request has no body; send ${what}`, {});
  return text;
}

/** NDJSON events -> values; each bad line is INVALID_JSON naming its line (the first 20 in details). */
function parseNdjsonEvents(text: string, maxDepth: number): unknown[] {
  const events: unknown[] = [];
  const errors: Array<{ line: number; message: string }> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/\r$/, '');
    if (line.trim() === '') continue;
    if (depthExceededAt(line, maxDepth) >= 0) {
      errors.push({ line: i + 1, message: `line ${i + 1} nests arrays and objects more than ${maxDepth} levels deep; flatten it` });
      continue;
    }
    try {
      events.push(JSON.parse(line) as unknown);
    } catch (error) {
      errors.push({ line: i + 1, message: `line ${i + 1} is not valid JSON: ${describeJsonError(error, line)}` });
    }
  }
  const first = errors[0];
  if (first !== undefined) {
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more bad lines; nothing was written)` : ' (nothing was written)';
    throw new AppError('INVALID_JSON', `${first.message}; send one JSON object per line${more}`, { line: first.line, errors: errors.slice(0, 20) });
  }
  return events;
}

/** Registers the osquery routes and POST /api/log/{family}. */
export function registerOsqueryRoutes(app: FastifyInstance, services: Services, maxDepth: number): void {
  // Every family a request writes against the token's patterns (403), then its rows charged (429), before anything is written.
  const charge = (request: FastifyRequest) => accessGuard(services.access, principalOf(request));

  // osqueryd's enrollment: {"enroll_secret", "host_identifier", "host_details"} -> {"node_key", "node_invalid"}.
  app.post('/api/osquery/enroll', async (request) => services.osquery.enroll(request.body));

  // osqueryd's TLS logger: {"node_key", "log_type", "data": [...]} -> {} (or node_invalid); gzip with --logger_tls_compress.
  // No token here (the node key is osqueryd's credential), so no family patterns: an enrolled node writes any query's family.
  app.post('/api/osquery/log', { config: { keepBodyText: true } }, async (request) =>
    services.osquery.logTls(textOf(request, 'the TLS logger body {"node_key", "log_type", "data"}')),
  );

  // Shippers: the lines of osqueryd.results.log (NDJSON), or one JSON array of them.
  app.post('/api/osquery/results', { config: { keepBodyText: true, bodyTypes: LINE_PARSERS } }, async (request) => {
    const text = textOf(request, 'the lines of osqueryd.results.log (NDJSON) or a JSON array of records');
    request.body = undefined;
    request.bodyText = undefined;
    return services.osquery.ingestResults(text, headerOf(request, 'idempotency-key'), charge(request));
  });

  // JSON events without a declared schema: a JSON array, NDJSON, or {"logs": [...], "schema": {...}} (the schema wins for its fields).
  app.post<{ Params: { family: string } }>('/api/log/:family', { config: { keepBodyText: true, bodyTypes: LINE_PARSERS } }, async (request) => {
    const body = request.body;
    let events: unknown;
    let schema: unknown;
    let sourceText: string | undefined;
    if (isLines(body)) {
      events = parseNdjsonEvents(body.lines, maxDepth);
    } else if (Array.isArray(body)) {
      events = body;
    } else if (typeof body === 'object' && body !== null) {
      const object = body as Record<string, unknown>;
      if (!('logs' in object)) {
        throw badInput('a JSON object body must be {"logs": [events], "schema": {optional field types}}; or send a JSON array of events, or NDJSON', {});
      }
      events = object['logs'];
      schema = object['schema'];
      sourceText = request.bodyText;
    } else {
      throw badInput('send the events as a JSON array, NDJSON (one object per line), or {"logs": [...]}', {});
    }
    request.bodyText = undefined;
    return services.osquery.ingestSchemaless(
      { family: request.params.family, events, schema, idempotencyKey: headerOf(request, 'idempotency-key'), sourceText },
      charge(request),
    );
  });
}
