import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TokenStore } from '../../../src/services/token-store.js';
import { appErrorOf } from '../../helpers/app-error.js';

const SECRET = 'plain-secret-value-1';

let dir: string;
let file: string;
let lines: Array<{ level: number; msg: string; [key: string]: unknown }>;
let raw: string[];
const logger = () =>
  pino({ level: 'info' }, {
    write: (line: string) => {
      raw.push(line);
      lines.push(JSON.parse(line));
    },
  });

function write(value: unknown, target = file): void {
  writeFileSync(target, typeof value === 'string' ? value : JSON.stringify(value));
}

const one = { tokens: [{ name: 'first', token: SECRET, scopes: ['ingest'] }] };
const two = { tokens: [{ name: 'first', token: SECRET, scopes: ['ingest'] }, { name: 'second', token: 'other-secret-2', scopes: ['query'] }] };

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'tokens-'));
  file = path.join(dir, 'tokens.json');
  lines = [];
  raw = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const names = (store: TokenStore): string[] => store.current.tokens.map((t) => t.name);

describe('TokenStore.open', () => {
  it('reads and parses the file', () => {
    write(two);
    const store = TokenStore.open(file, logger());
    expect(names(store)).toEqual(['first', 'second']);
    expect(store.path).toBe(file);
  });

  it('stops start-up with CONFIG_INVALID when the file is missing, naming it', () => {
    const error = appErrorOf(() => TokenStore.open(path.join(dir, 'nope.json'), logger()));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.details['problems']).toEqual([`tokens file ${path.join(dir, 'nope.json')}: cannot be read (ENOENT); check --tokens_file`]);
  });

  it('stops start-up with CONFIG_INVALID listing the problems of an invalid file', () => {
    write({ tokens: [{ name: 'a', token: SECRET, scopes: ['root'] }] });
    const error = appErrorOf(() => TokenStore.open(file, logger()));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.details['problems']).toEqual([`tokens file ${file}: tokens[0] ("a"): unknown scope "root"; scopes are ingest, query, admin, metrics`]);
  });
});

describe('TokenStore.reload', () => {
  it('takes a valid new file and logs the count', () => {
    write(one);
    const store = TokenStore.open(file, logger());
    write(two);
    expect(store.reload()).toEqual({ ok: true, tokens: 2 });
    expect(names(store)).toEqual(['first', 'second']);
    expect(lines.at(-1)).toMatchObject({ level: 30, msg: 'tokens file reloaded', path: file, tokens: 2 });
  });

  it('keeps the old tokens when the new file is broken, and logs an error without secrets', () => {
    write(two);
    const store = TokenStore.open(file, logger());
    const before = store.current;
    write(`{"tokens": [{"name": "first", "token": "${SECRET}", "scopes": ["ingest"]},`);
    const result = store.reload();
    expect(result.ok).toBe(false);
    expect(store.current).toBe(before);
    write({ tokens: [{ name: 'first', token: SECRET, scopes: ['ingest'] }, { name: 'first', token: SECRET, scopes: ['nope'] }] });
    expect(store.reload().ok).toBe(false);
    expect(store.current).toBe(before);
    const errors = lines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(2);
    expect(errors[0]?.msg).toBe('tokens file is invalid; keeping the 2 tokens loaded before');
    expect(errors[1]?.['problems']).toEqual([
      `tokens file ${file}: tokens[1] ("first"): unknown scope "nope"; scopes are ingest, query, admin, metrics`,
    ]);
    expect(raw.join('\n')).not.toContain(SECRET);
  });

  it('keeps the old tokens while the file is missing', () => {
    write(one);
    const store = TokenStore.open(file, logger());
    rmSync(file);
    expect(store.reload()).toMatchObject({ ok: false, problems: [expect.stringContaining('cannot be read (ENOENT)')] });
    expect(names(store)).toEqual(['first']);
  });
});

describe('TokenStore.watch', () => {
  /** Waits (bounded) until `check` holds. */
  async function eventually(check: () => boolean): Promise<boolean> {
    for (let i = 0; i < 300; i++) {
      if (check()) return true;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return check();
  }

  it('reloads when the file is replaced (as editors do), keeps old tokens on a broken one, and stops on close', async () => {
    write(one);
    const store = TokenStore.open(file, logger());
    store.watch(25);
    try {
      const replacement = path.join(dir, 'tokens.json.tmp');
      write(two, replacement);
      renameSync(replacement, file);
      expect(await eventually(() => store.current.tokens.length === 2)).toBe(true);

      write('{ broken');
      expect(await eventually(() => lines.some((l) => l.level === 50))).toBe(true);
      expect(names(store)).toEqual(['first', 'second']);
      // A file that stays broken is reported once, not at every poll.
      await new Promise((resolve) => setTimeout(resolve, 250));
      expect(lines.filter((l) => l.level === 50)).toHaveLength(1);
    } finally {
      store.close();
    }
    write(one);
    // Watching has stopped: a direct reload still works, the watcher no longer does.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(names(store)).toEqual(['first', 'second']);
    expect(store.reload().ok).toBe(true);
    expect(names(store)).toEqual(['first']);
  });

  it('misses no change made between the last read and the first poll', async () => {
    write(one);
    const store = TokenStore.open(file, logger());
    write(two);
    store.watch(25);
    try {
      expect(await eventually(() => store.current.tokens.length === 2)).toBe(true);
    } finally {
      store.close();
    }
  });
});
