/**
 * The fastify server every transport is registered on: request ids, body
 * parsing (JSON whatever the Content-Type, as the seed's Go service did; the
 * ingest route also keeps the body's text), the error envelope for every
 * error, and the not-found / method-not-allowed answers. No routes here.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import { AppError } from '../errors/app-error.js';
import { errorResponse, toAppError } from './rest/error-response.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request body as text, on routes whose config asks for it (see the content-type parser in createHttpServer). */
    bodyText: string | undefined;
  }
  interface FastifyContextConfig {
    /** Keep the body's text on `request.bodyText` after parsing it (ingest takes each event's raw copy from it). */
    keepBodyText?: boolean;
  }
}

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/** A fastify instance with the gateway's parsing and error handling, and no routes yet. */
export function createHttpServer(config: Config, logger: Logger): FastifyInstance {
  const server = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && given.length > 0 && given.length <= 128 ? given : randomUUID();
    },
  });
  // The seed's Go service decoded every body as JSON whatever its
  // Content-Type; keep that, so `curl -d` without -H works.
  server.removeAllContentTypeParsers();
  // On routes that ask for it, the body's text stays on the request next to
  // the parsed body: ingest takes each event's raw_logs copy from it
  // (ingest/event-spans.ts).
  server.decorateRequest('bodyText', undefined);
  server.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      const parsed = JSON.parse(text) as unknown;
      if (request.routeOptions.config.keepBodyText === true) request.bodyText = text;
      done(null, parsed);
    } catch (error) {
      done(new AppError('INVALID_JSON', `the request body is not valid JSON (${(error as Error).message}); send a JSON object`), undefined);
    }
  });
  server.setErrorHandler((error, request, reply) => {
    const appError = toAppError(error, config.bodyLimitBytes);
    if (appError.code === 'INTERNAL_SERVER_ERROR') request.log.error({ err: error }, 'unexpected error');
    else if (appError.status >= 500) request.log.warn({ code: appError.code, details: appError.details }, appError.message);
    const { status, body } = errorResponse(appError);
    void reply.code(status).send(body);
  });
  server.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? request.url;
    const allowed = HTTP_METHODS.filter((method) => server.hasRoute({ method, url: path }));
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
    const { status, body } = errorResponse(error);
    void reply.code(status).send(body);
  });
  server.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  return server;
}
