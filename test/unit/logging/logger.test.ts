import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { lazyRequestLogger } from '../../../src/logging/logger.js';

/** A root logger at `level` writing its JSON lines into the returned array. */
function capture(level: string): { lines: Array<Record<string, unknown>>; root: pino.Logger } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, root: pino({ level }, sink) };
}

describe('lazyRequestLogger', () => {
  it('writes with its bindings and those of its lazy children, at the parent level', () => {
    const { lines, root } = capture('debug');
    const request = lazyRequestLogger(root, { reqId: 'r1' }, {});
    expect(request.level).toBe('debug');
    const withToken = request.child({ token: 'querier' });
    expect(withToken.level).toBe('debug');
    withToken.debug({ route: '/api/describe' }, 'request');
    request.info('plain');
    expect(lines.map((line) => [line['msg'], line['reqId'], line['token'] ?? null, line['route'] ?? null])).toEqual([
      ['request', 'r1', 'querier', '/api/describe'],
      ['plain', 'r1', null, null],
    ]);
  });

  it('writes nothing below the level, and a level in its options is its own', () => {
    const { lines, root } = capture('warn');
    const request = lazyRequestLogger(root, { reqId: 'r2' }, {});
    request.info('dropped');
    request.debug('dropped');
    const loud = lazyRequestLogger(root, { reqId: 'r3' }, { level: 'info' });
    expect(loud.level).toBe('info');
    loud.info('kept');
    expect(lines.map((line) => line['msg'])).toEqual(['kept']);
  });
});
