/**
 * HTTP hardening below the routes: the answers Node's HTTP parser and
 * fastify's router give on their own (unknown method, huge headers,
 * Content-Length with Transfer-Encoding, a missing Host, long or badly
 * escaped path parameters) carry the gateway's error envelope with a
 * registered code, and slow clients are cut after headers_timeout_ms /
 * request_timeout_ms with 408 REQUEST_TIMEOUT. Malformed requests go over raw
 * sockets (node:net), since fetch cannot send them.
 */
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors/codes.js';
import { api, startGateway, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;
/** Short client timeouts, for the slow-client tests. */
let strict: TestGateway;

beforeAll(async () => {
  [gateway, strict] = await Promise.all([startGateway(shards), startGateway(shards, ['--headers_timeout_ms=1000', '--request_timeout_ms=2000'])]);
});
afterAll(async () => {
  await Promise.all([gateway?.close(), strict?.close()]);
});

/** What came back on a raw socket. */
interface RawAnswer {
  /** The status of the first response, or undefined when none came. */
  status: number | undefined;
  headers: Record<string, string>;
  /** The body parsed as JSON (or its text when not JSON). */
  body: any;
  text: string;
  /** The server closed the socket before the deadline. */
  closed: boolean;
}

/** One step of what the client sends: bytes, or a pause. */
type Step = string | Buffer | { pauseMs: number };

/**
 * Connects to `target`, sends `steps` in order (stopping when the server
 * closes), and collects the answer until the socket closes, one whole
 * response has arrived, or `deadlineMs` passes.
 */
async function raw(target: { url: string }, steps: readonly Step[], deadlineMs = 15_000): Promise<RawAnswer> {
  const { hostname, port } = new URL(target.url);
  const socket = connect({ host: hostname, port: Number(port) });
  socket.on('error', () => undefined);
  const chunks: Buffer[] = [];
  let closed = false;
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, deadlineMs);
    const finish = (): void => {
      clearTimeout(timer);
      resolve();
    };
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (parse(Buffer.concat(chunks)).complete) finish();
    });
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const sending = (async () => {
    for (const step of steps) {
      if (closed) return;
      if (typeof step === 'object' && 'pauseMs' in step) await sleep(step.pauseMs);
      else socket.write(step);
    }
  })();
  await done;
  await sending.catch(() => undefined);
  socket.destroy();
  const parsed = parse(Buffer.concat(chunks));
  return { ...parsed, closed };
}

function parse(bytes: Buffer): Omit<RawAnswer, 'closed'> & { complete: boolean } {
  const text = bytes.toString('utf8');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return { status: undefined, headers: {}, body: undefined, text, complete: false };
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const bodyText = text.slice(end + 4);
  const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
  const complete = length !== undefined && Buffer.byteLength(bodyText) >= length;
  let body: unknown = bodyText;
  try {
    body = JSON.parse(bodyText);
  } catch {
    // keep the text
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body, text: bodyText, complete };
}

/** The answer is `status` in the envelope with a registered code of that status and a helpful message. */
function expectEnvelope(answer: { status: number | undefined; body: any; text?: string }, status: number, code?: string): void {
  expect(answer.status, answer.text).toBe(status);
  expect(typeof answer.body?.error?.code, answer.text).toBe('string');
  if (code !== undefined) expect(answer.body.error.code).toBe(code);
  expect((ERROR_CODES as Record<string, number>)[answer.body.error.code]).toBe(status);
  expect(typeof answer.body.error.message).toBe('string');
  expect(answer.body.error.message.length).toBeGreaterThan(20);
}

describe("Node's and fastify's own client errors answer in the envelope", () => {
  it('an unknown method is 405 METHOD_NOT_ALLOWED', async () => {
    expectEnvelope(await raw(gateway, ['FOO / HTTP/1.1\r\nHost: x\r\n\r\n']), 405, 'METHOD_NOT_ALLOWED');
    // A method Node knows but no route serves.
    expectEnvelope(await raw(gateway, ['PROPFIND /api/describe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']), 405, 'METHOD_NOT_ALLOWED');
  });

  it('a 100 KB header is 431 HEADERS_TOO_LARGE', async () => {
    const answer = await raw(gateway, [`GET /api/describe HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`]);
    expectEnvelope(answer, 431, 'HEADERS_TOO_LARGE');
    expect(answer.headers['content-type']).toMatch(/application\/json/);
  });

  it('Content-Length with Transfer-Encoding is 400 BAD_USER_INPUT', async () => {
    const answer = await raw(gateway, [
      'POST /api/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ]);
    expectEnvelope(answer, 400, 'BAD_USER_INPUT');
  });

  it('a request line that is not HTTP is 400 in the envelope', async () => {
    expectEnvelope(await raw(gateway, ['GET / HTTP/9\r\n\r\n']), 400);
    expectEnvelope(await raw(gateway, [Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a])]), 405);
  });

  it('an HTTP/1.1 request without Host is 400 BAD_USER_INPUT', async () => {
    expectEnvelope(await raw(gateway, ['GET /api/describe HTTP/1.1\r\nConnection: close\r\n\r\n']), 400, 'BAD_USER_INPUT');
  });

  it('an Expect other than 100-continue is refused in the envelope', async () => {
    const answer = await raw(gateway, ['POST /api/query HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}']);
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(answer.status).toBeLessThan(500);
    expectEnvelope(answer, answer.status as number);
  });

  it('a badly percent-escaped path is 400 in the envelope', async () => {
    for (const path of ['/api/families/%E0%A4%A/retention', '/api/log/%ZZ', '/api/families/%/retention']) {
      const method = path.startsWith('/api/log') ? 'DELETE' : 'GET';
      expectEnvelope(await raw(gateway, [`${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]), 400);
    }
  });

  it('long family path parameters are 400 INVALID_FAMILY_NAME or 414 URI_TOO_LONG, never a bare 404', async () => {
    for (const length of [65, 200, 1000, 5000]) {
      const family = 'f'.repeat(length);
      const answers = await Promise.all([
        api(gateway, 'DELETE', `/api/log/${family}?before=2020-01-01T00:00:00Z`),
        api(gateway, 'GET', `/api/families/${family}/retention`),
        api(gateway, 'PUT', `/api/families/${family}/retention`, { seconds: 60 }),
        api(gateway, 'DELETE', `/api/families/${family}/retention`),
      ]);
      for (const answer of answers) {
        expect([400, 414], `${length}: ${JSON.stringify(answer.body)}`).toContain(answer.status);
        expectEnvelope(answer, answer.status, answer.status === 400 ? 'INVALID_FAMILY_NAME' : 'URI_TOO_LONG');
      }
    }
    // A 5,000-character path that names no route at all is still in the envelope.
    expectEnvelope(await api(gateway, 'GET', `/nope/${'x'.repeat(5000)}`), 404, 'ROUTE_NOT_FOUND');
  });
});

describe('slow clients', () => {
  it('the listening server uses headers_timeout_ms and request_timeout_ms, and a bounded keep-alive', () => {
    const server = strict.app.server.server as import('node:http').Server;
    expect(server.headersTimeout).toBe(1000);
    expect(server.requestTimeout).toBe(2000);
    expect(server.keepAliveTimeout).toBeGreaterThan(0);
    expect(server.keepAliveTimeout).toBeLessThanOrEqual(75_000);
  });

  it('headers sent slowly are cut with 408 REQUEST_TIMEOUT and the socket closed', async () => {
    // One header byte every 250 ms for at most 15 s: far past the 1 s limit.
    const trickle: Step[] = ['GET /api/describe HTTP/1.1\r\nHost: x\r\n'];
    for (let i = 0; i < 60; i++) trickle.push({ pauseMs: 250 }, 'X');
    const answer = await raw(strict, trickle, 30_000);
    expect(answer.closed).toBe(true);
    expectEnvelope(answer, 408, 'REQUEST_TIMEOUT');
  });

  it('a body sent slowly is cut with 408 REQUEST_TIMEOUT and the socket closed', async () => {
    const trickle: Step[] = ['PUT /api/log HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{'];
    for (let i = 0; i < 60; i++) trickle.push({ pauseMs: 250 }, ' ');
    const answer = await raw(strict, trickle, 30_000);
    expect(answer.closed).toBe(true);
    expectEnvelope(answer, 408, 'REQUEST_TIMEOUT');
  });

  it('a prompt request on the strict gateway still works', async () => {
    expect((await api(strict, 'GET', '/api/describe')).status).toBe(200);
  });
});

describe('closing', () => {
  it("a request that arrives while the gateway closes is answered, never in fastify's own 503 shape", async () => {
    const closing = await startGateway(shards);
    let closed: Promise<void> | undefined;
    try {
      const { hostname, port } = new URL(closing.url);
      const socket = connect({ host: hostname, port: Number(port) });
      socket.on('error', () => undefined);
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      const ended = new Promise<void>((resolve) => {
        socket.on('close', () => resolve());
        setTimeout(resolve, 15_000).unref();
      });
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      // The first request is in flight (its body not sent yet) when the close begins; the second arrives during it.
      const body = JSON.stringify({ query: 'SELECT 1 AS one' });
      socket.write(`POST /api/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
      await sleep(300);
      closed = closing.close();
      await sleep(300);
      socket.write(`${body}GET /api/describe HTTP/1.1\r\nHost: x\r\n\r\n`);
      await ended;
      socket.destroy();
      const text = Buffer.concat(chunks).toString('utf8');
      const responses = text.split(/(?=HTTP\/1\.1 \d{3} )/);
      expect(responses[0], text).toMatch(/^HTTP\/1\.1 200 /);
      expect(responses[0]).toContain('"one":1');
      expect(text).not.toContain('"statusCode"');
      // The second is served, and the connection then closes.
      expect(responses[1], text).toMatch(/^HTTP\/1\.1 200 /);
      expect(responses[1]?.toLowerCase()).toContain('connection: close');
    } finally {
      await (closed ?? closing.close());
    }
  });
});
