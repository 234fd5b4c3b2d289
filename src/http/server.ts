/**
 * The fastify server every transport is registered on: request ids, body
 * parsing (JSON in its usual media types, gzip/deflate bodies, strict UTF-8
 * and a nesting bound; the ingest route also keeps the body's text), the
 * client timeouts, and the error envelope for every answer the gateway
 * gives, including those Node's HTTP parser and fastify's router give on
 * their own. No routes here.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyServerOptions, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, maxHeaderSize, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from '../config/config.js';
import { lazyRequestLogger, type Logger } from '../logging/logger.js';
import { AppError, badInput } from '../errors/app-error.js';
import { errorResponse, toAppError } from './rest/error-response.js';
import { readTlsFiles } from './tls.js';
import { JSON_MEDIA_TYPE, bodyMediaType, contentCoding, decodeUtf8Body, decompressBody, parseJsonBody, type BodyTextParser } from './rest/request-body.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request body as text, on routes whose config asks for it (see the content-type parser in createHttpServer). */
    bodyText: string | undefined;
  }
  interface FastifyContextConfig {
    /** Keep the body's text on `request.bodyText` after parsing it (ingest takes each event's raw copy from it). */
    keepBodyText?: boolean;
    /**
     * Media types this route accepts besides JSON: lower-case essence (e.g.
     * `application/x-ndjson`) -> how to parse the body's text (already
     * decompressed and checked as UTF-8). Other routes answer 415 for them.
     */
    bodyTypes?: Readonly<Record<string, BodyTextParser>>;
  }
}

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/**
 * Longest path parameter routed (a family name has at most 64 characters):
 * up to it a bad name is INVALID_FAMILY_NAME from the service, past it 414.
 */
const MAX_PARAM_LENGTH = 1024;

/**
 * Idle keep-alive connections close after this: longer than the 60 s idle
 * timeout load balancers commonly use (so they never reuse a connection the
 * gateway is closing), short enough not to hoard sockets.
 */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Longest path (without the query string) shown in an error message. */
const SHOWN_PATH_CHARS = 100;

/** A path fit to quote in a message and details: at most SHOWN_PATH_CHARS characters. */
function shownPath(path: string): string {
  return path.length > SHOWN_PATH_CHARS ? `${path.slice(0, SHOWN_PATH_CHARS)}...` : path;
}

/** Methods whose body fastify parses (the others' bodies are ignored). */
const BODYLESS = new Set(['GET', 'HEAD', 'TRACE']);

/** True when the request carries a body fastify will parse. */
function hasBody(request: FastifyRequest): boolean {
  if (BODYLESS.has(request.method)) return false;
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The extra media types of the request's route. */
function extraTypesOf(request: FastifyRequest): readonly string[] {
  const types = request.routeOptions.config.bodyTypes;
  return types === undefined ? [] : Object.keys(types);
}

/** Sends `error` in the envelope. */
function sendError(reply: FastifyReply, error: AppError): void {
  const { status, body } = errorResponse(error);
  // Any error may say when to retry (GATEWAY_BUSY, RATE_LIMITED): `details.retryAfterSeconds` becomes Retry-After.
  const retryAfter = error.details['retryAfterSeconds'];
  if (typeof retryAfter === 'number' && retryAfter > 0) void reply.header('retry-after', String(Math.ceil(retryAfter)));
  void reply.code(status).send(body);
}

/** The envelope of an error Node's HTTP parser (or its request timer) raised on a connection, before any request existed. */
function clientErrorOf(error: { code?: unknown; reason?: unknown }, config: Config): AppError {
  const reason = typeof error.reason === 'string' ? error.reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 100) : 'malformed request';
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new AppError(
        'REQUEST_TIMEOUT',
        `the request did not arrive in time (headers within ${config.limits.headersTimeoutMs} ms, the whole request within ${config.limits.requestTimeoutMs} ms); send it at once, or raise --headers_timeout_ms / --request_timeout_ms`,
        { headersTimeoutMs: config.limits.headersTimeoutMs, requestTimeoutMs: config.limits.requestTimeoutMs },
      );
    case 'HPE_HEADER_OVERFLOW':
      return new AppError(
        'HEADERS_TOO_LARGE',
        `the request line and headers are larger than ${maxHeaderSize} bytes; send fewer or shorter headers, and put large data in the body`,
        { limitBytes: maxHeaderSize },
      );
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new AppError('PAYLOAD_TOO_LARGE', 'the chunk extensions of the request body are too large; send plain chunks or a Content-Length body', {});
    case 'HPE_INVALID_METHOD':
      return new AppError('METHOD_NOT_ALLOWED', `the request method is not one the gateway serves; use ${HTTP_METHODS.join(', ')} (GET / lists the API)`, {
        allowed: [...HTTP_METHODS],
      });
    case 'HPE_INVALID_TRANSFER_ENCODING':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return badInput(`the request's body framing is ambiguous (${reason}); send exactly one Content-Length, or Transfer-Encoding: chunked without Content-Length`, {});
    default:
      return badInput(`the request is not valid HTTP/1.1 (${reason}); send a well-formed HTTP/1.1 request (see GET / for the API)`, {});
  }
}

/** Writes `error` in the envelope straight onto a socket that has no response yet, then closes it. */
function writeOnSocket(socket: Socket, error: AppError): void {
  const { status, body } = errorResponse(error);
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
  // Unread input (a huge header, a body) would otherwise keep it open; give the answer a moment to leave first.
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** A fastify instance with the gateway's parsing and error handling, and no routes yet. */
export function createHttpServer(config: Config, logger: Logger): FastifyInstance {
  const { headersTimeoutMs, requestTimeoutMs, bodyMaxDepth } = config.limits;
  // Node checks both timeouts on an interval (30 s by default): check often
  // enough that the limits hold within a quarter of the shorter one.
  const checkEveryMs = Math.max(100, Math.min(1000, Math.floor(Math.min(headersTimeoutMs, requestTimeoutMs) / 4)));
  const nodeOptions = {
    // Node refuses a headers timeout longer than the request timeout.
    headersTimeout: Math.min(headersTimeoutMs, requestTimeoutMs),
    requestTimeout: requestTimeoutMs,
    connectionsCheckingInterval: checkEveryMs,
    // Node answers a missing Host with a bare 400; the onRequest hook below answers it in the envelope.
    requireHostHeader: false,
  };
  // HTTPS with --tls_cert/--tls_key (read now: CONFIG_INVALID when unreadable), else plain HTTP.
  const tls = readTlsFiles(config.tls);
  const server = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // Each request's logger (with its reqId) is made on its first line: most requests write none.
    childLoggerFactory: lazyRequestLogger as unknown as FastifyServerOptions['childLoggerFactory'],
    bodyLimit: config.bodyLimitBytes,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // While closing, fastify answers requests that still arrive on open
    // connections with its own 503 body. Serve them instead (the pools close
    // only after the server has), each with Connection: close, so the client
    // needs no retry and the connection still goes away.
    return503OnClosing: false,
    http: nodeOptions,
    // HTTPS: fastify ignores `http` once `https` is set, so the same keys go there. Typed
    // as the HTTP server it otherwise is: routes and hooks see the same requests either way.
    ...((tls === null ? {} : { https: { ...nodeOptions, cert: tls.cert, key: tls.key } }) as object),
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && given.length > 0 && given.length <= 128 ? given : randomUUID();
    },
    // Errors of Node's HTTP parser and request timers (a bad method, huge
    // headers, ambiguous framing, a slow client): the envelope, then close.
    clientErrorHandler(error, socket) {
      if ((error as { code?: unknown }).code === 'ECONNRESET' || socket.destroyed) return;
      logger.debug({ code: (error as { code?: unknown }).code }, 'client error');
      const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (socket.writable && inFlight?.headersSent !== true) writeOnSocket(socket, clientErrorOf(error, config));
      // Ended by an earlier answer: its timer closes it once the answer has left.
      else if (!socket.writableEnded) socket.destroy();
    },
    // The router's own errors: a bad percent-escape, an overlong path parameter.
    frameworkErrors(error, request, reply) {
      void reply.header('x-request-id', request.id);
      const path = shownPath((request.raw.url ?? '').split('?')[0] ?? '');
      if (error.code === 'FST_ERR_BAD_URL') {
        sendError(reply, badInput('the path has an invalid percent-escape (each % must start two hex digits of UTF-8, e.g. %2F); escape the path correctly', { path }));
      } else if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
        sendError(
          reply,
          new AppError('URI_TOO_LONG', `a path segment is longer than ${MAX_PARAM_LENGTH} characters; family names have 1-64 letters, digits or underscores`, {
            path,
            limit: MAX_PARAM_LENGTH,
          }),
        );
      } else {
        request.log.error({ err: error }, 'unexpected router error');
        sendError(reply, toAppError(error, config.bodyLimitBytes));
      }
    },
  });
  // Node answers an Expect it does not know with a bare 417.
  (server.server as Server).on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    const expect = String(request.headers.expect ?? '').replace(/[^\x20-\x7e]/g, '?').slice(0, 60);
    const { status, body } = errorResponse(badInput(`Expect: ${JSON.stringify(expect)} is not supported; send the request without Expect, or with Expect: 100-continue`, {}));
    const text = JSON.stringify(body);
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), connection: 'close' });
    response.end(text);
  });
  // Bodies: JSON in its usual media types (the seed's Go service decoded every
  // body as JSON, so `curl -d` without -H, and no Content-Type at all, keep
  // working); a route may accept more (route config bodyTypes).
  server.removeAllContentTypeParsers();
  // On routes that ask for it, the body's text stays on the request next to
  // the parsed body: ingest takes each event's raw_logs copy from it
  // (ingest/event-spans.ts).
  server.decorateRequest('bodyText', undefined);
  // Before the body is read: refuse a media type or coding the route does not
  // take (415), and decompress gzip/deflate under the body limit, which
  // fastify then applies to the decompressed bytes.
  // Hooks here and in auth.ts and metrics.ts take fastify's callback form: an async one costs a promise and a microtask per request.
  server.addHook('preParsing', (request, _reply, payload, done) => {
    // Not found (404 or 405) whatever the body: it is read under the limit and dropped.
    if (request.is404 || !hasBody(request)) {
      done(null, payload);
      return;
    }
    try {
      bodyMediaType(request.headers['content-type'], extraTypesOf(request));
      const coding = contentCoding(request.headers['content-encoding']);
      done(null, coding === null ? payload : decompressBody(payload, coding, config.bodyLimitBytes));
    } catch (error) {
      done(error as Error);
    }
  });
  server.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    if (request.is404) {
      done(null, undefined);
      return;
    }
    try {
      const routeConfig = request.routeOptions.config;
      const mediaType = bodyMediaType(request.headers['content-type'], extraTypesOf(request));
      const text = decodeUtf8Body(body as Buffer);
      if (text.trim() === '') {
        done(null, undefined);
        return;
      }
      const parse = mediaType === JSON_MEDIA_TYPE ? undefined : routeConfig.bodyTypes?.[mediaType];
      const parsed = parse === undefined ? parseJsonBody(text, bodyMaxDepth) : parse(text);
      if (routeConfig.keepBodyText === true) request.bodyText = text;
      done(null, parsed);
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  server.setErrorHandler((error, request, reply) => {
    const appError = toAppError(error, config.bodyLimitBytes);
    if (appError.code === 'INTERNAL_SERVER_ERROR') request.log.error({ err: error }, 'unexpected error');
    else if (appError.status >= 500) request.log.warn({ code: appError.code, details: appError.details }, appError.message);
    sendError(reply, appError);
  });
  server.setNotFoundHandler((request, reply) => {
    const fullPath = request.url.split('?')[0] ?? request.url;
    const allowed = HTTP_METHODS.filter((method) => server.hasRoute({ method, url: fullPath }));
    const path = shownPath(fullPath);
    const error =
      allowed.length > 0
        ? new AppError('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}; use ${allowed.join(' or ')}`, {
            method: request.method,
            path,
            allowed,
          })
        : new AppError('ROUTE_NOT_FOUND', `no route ${request.method} ${path}; see the README for the API`, {
            method: request.method,
            path,
          });
    if (allowed.length > 0) void reply.header('allow', allowed.join(', '));
    sendError(reply, error);
  });
  server.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    if (request.headers.host === undefined && request.raw.httpVersion === '1.1') {
      done(badInput('the request has no Host header, which HTTP/1.1 requires; send Host: <the gateway address>', {}));
      return;
    }
    done();
  });
  return server;
}
