import { createHash, timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseTokens, sha256, type TokenSet } from '../../../src/config/tokens.js';
import { ANONYMOUS, AccessService, findToken, type AccessOutcome, type Principal } from '../../../src/services/access-service.js';
import { MemoryRateLimiter } from '../../../src/services/rate-limiter.js';
import { AppError } from '../../../src/errors/app-error.js';
import { appErrorOf } from '../../helpers/app-error.js';

const hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

const FILE = {
  tokens: [
    { name: 'shipper', token: 'shipper-secret', scopes: ['ingest'], families: ['osquery_*', 'dog_registry'] },
    { name: 'analyst', sha256: hex('analyst-secret'), scopes: ['query'] },
    { name: 'ops', sha256: hex('ops-secret'), scopes: ['admin', 'metrics'], limits: { requests_per_minute: 3, events_per_minute: 1000 } },
    { name: 'scraper', token: 'scraper-secret', scopes: ['metrics'] },
    { name: 'dogs_admin', token: 'dogs-admin-secret', scopes: ['admin'], families: ['dog_*'] },
  ],
};

function tokenSet(value: unknown = FILE): TokenSet {
  return parseTokens(JSON.stringify(value), 'tokens.json');
}

/** An access service over a fixed set (or a mutable source), with decisions recorded. */
function service(source: { current: TokenSet } | null = { current: tokenSet() }, clockMs = Date.UTC(2024, 0, 1, 0, 0, 10)) {
  const decisions: Array<[string | null, AccessOutcome]> = [];
  let now = clockMs;
  const limiter = new MemoryRateLimiter({ clock: () => new Date(now) });
  const access = new AccessService({ tokens: source, limiter, onDecision: (name, outcome) => decisions.push([name, outcome]) });
  return { access, decisions, advance: (ms: number) => void (now += ms) };
}

async function rejectionOf(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected a rejection');
}

describe('access control off', () => {
  it('authenticates anyone as the all-powerful anonymous principal', async () => {
    const { access, decisions } = service(null);
    expect(access.enabled).toBe(false);
    for (const header of [undefined, '', 'Bearer whatever', 'Basic abc']) expect(access.authenticate(header)).toBe(ANONYMOUS);
    expect(ANONYMOUS.name).toBe('anonymous');
    expect(ANONYMOUS.anonymous).toBe(true);
    for (const scope of ['ingest', 'query', 'admin', 'metrics'] as const) expect(ANONYMOUS.has(scope)).toBe(true);
    expect(ANONYMOUS.canSee('anything')).toBe(true);
    expect(ANONYMOUS.familyFilter()).toEqual({ all: true });
    access.require(ANONYMOUS, 'admin', ['a', 'b']);
    for (let i = 0; i < 100; i++) await access.chargeRequest(ANONYMOUS);
    await access.chargeEvents(ANONYMOUS, 1_000_000_000);
    expect(decisions).toEqual([]);
  });
});

describe('authenticate', () => {
  it('finds plain and sha256 tokens; the scheme is case-insensitive', () => {
    const { access, decisions } = service();
    expect(access.enabled).toBe(true);
    expect(access.authenticate('Bearer shipper-secret').name).toBe('shipper');
    expect(access.authenticate('bearer analyst-secret').name).toBe('analyst');
    expect(access.authenticate('  BEARER   ops-secret  ').name).toBe('ops');
    expect(access.authenticate('Bearer ops-secret').anonymous).toBe(false);
    expect(decisions).toEqual([
      ['shipper', 'authenticated'],
      ['analyst', 'authenticated'],
      ['ops', 'authenticated'],
      ['ops', 'authenticated'],
    ]);
  });

  it.each<[string, string | undefined, string]>([
    ['no header', undefined, 'this gateway requires an access token: send "Authorization: Bearer <token>"'],
    ['an empty header', '', 'this gateway requires an access token: send "Authorization: Bearer <token>"'],
    ['another scheme', 'Basic dXNlcjpwYXNz', 'the Authorization header must use the Bearer scheme: "Authorization: Bearer <token>"'],
    ['a bare token', 'shipper-secret', 'the Authorization header must use the Bearer scheme'],
    ['Bearer without a token', 'Bearer ', 'the Authorization header must use the Bearer scheme'],
    ['two words', 'Bearer shipper-secret extra', 'the Authorization header must use the Bearer scheme'],
    ['an unknown token', 'Bearer guessed-secret', 'the access token is not valid; send a token from the gateway\'s tokens file'],
    ['a digest sent as the token', `Bearer ${hex('analyst-secret')}`, 'the access token is not valid'],
    ['a token with a different case', 'Bearer SHIPPER-SECRET', 'the access token is not valid'],
  ])('%s -> 401 UNAUTHENTICATED, never echoing the token', (_label, header, message) => {
    const { access, decisions } = service();
    const error = appErrorOf(() => access.authenticate(header));
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(error.status).toBe(401);
    expect(error.message).toContain(message);
    const shown = JSON.stringify({ message: error.message, details: error.details });
    for (const secret of ['secret', 'dXNlcjpwYXNz', hex('analyst-secret')]) expect(shown).not.toContain(secret);
    expect(decisions).toEqual([[null, 'unauthenticated']]);
  });

  it('follows the source: a reloaded set takes effect on the next request', () => {
    const source = { current: tokenSet() };
    const { access } = service(source);
    expect(access.authenticate('Bearer scraper-secret').name).toBe('scraper');
    source.current = tokenSet({ tokens: [{ name: 'newcomer', token: 'new-secret', scopes: ['query'] }] });
    expect(appErrorOf(() => access.authenticate('Bearer scraper-secret')).code).toBe('UNAUTHENTICATED');
    expect(access.authenticate('Bearer new-secret').name).toBe('newcomer');
  });
});

describe('findToken: the constant-time path', () => {
  const set = tokenSet();

  it('compares the digest of the presented token with every configured digest, without stopping at a match', () => {
    const compared: string[] = [];
    const equal = (a: Buffer, b: Buffer): boolean => {
      compared.push(b.toString('hex'));
      expect(a).toHaveLength(32);
      expect(b).toHaveLength(32);
      return timingSafeEqual(a, b);
    };
    expect(findToken(set.tokens, 'shipper-secret', equal)?.name).toBe('shipper');
    expect(compared).toEqual(set.tokens.map((t) => t.digest.toString('hex')));
    compared.length = 0;
    expect(findToken(set.tokens, 'no-such-token', equal)).toBeUndefined();
    expect(compared).toHaveLength(set.tokens.length);
  });

  it('takes any length of input (digests are always 32 bytes) and uses crypto.timingSafeEqual by default', () => {
    expect(findToken(set.tokens, '')).toBeUndefined();
    expect(findToken(set.tokens, 'x'.repeat(100_000))).toBeUndefined();
    expect(findToken(set.tokens, 'shipper-secre')).toBeUndefined();
    expect(findToken(set.tokens, 'shipper-secret!')).toBeUndefined();
    expect(findToken(set.tokens, 'ops-secret')?.digest.equals(sha256('ops-secret'))).toBe(true);
  });
});

describe('require: scopes and families', () => {
  const { access } = service();
  const who = (token: string): Principal => access.authenticate(`Bearer ${token}`);

  it('admin implies ingest and query, not metrics', () => {
    const ops = who('ops-secret');
    for (const scope of ['ingest', 'query', 'admin', 'metrics'] as const) expect(ops.has(scope)).toBe(true);
    const dogs = who('dogs-admin-secret');
    expect([dogs.has('ingest'), dogs.has('query'), dogs.has('admin'), dogs.has('metrics')]).toEqual([true, true, true, false]);
    const shipper = who('shipper-secret');
    expect([shipper.has('ingest'), shipper.has('query'), shipper.has('admin'), shipper.has('metrics')]).toEqual([true, false, false, false]);
    expect(appErrorOf(() => access.require(dogs, 'metrics')).code).toBe('FORBIDDEN');
    access.require(dogs, 'query', ['dog_registry']);
    access.require(ops, 'metrics');
  });

  it('a missing scope is 403 FORBIDDEN naming the scope (and admin where it would do)', () => {
    const { access: a, decisions } = service();
    const shipper = a.authenticate('Bearer shipper-secret');
    const error = appErrorOf(() => a.require(shipper, 'query', ['dog_registry']));
    expect(error.code).toBe('FORBIDDEN');
    expect(error.status).toBe(403);
    expect(error.message).toBe('token "shipper" lacks the "query" scope; use a token with scope "query" or "admin"');
    expect(error.details).toEqual({ token: 'shipper', scope: 'query' });
    const metrics = appErrorOf(() => a.require(shipper, 'metrics'));
    expect(metrics.message).toBe('token "shipper" lacks the "metrics" scope; use a token with scope "metrics"');
    expect(decisions.slice(1)).toEqual([
      ['shipper', 'forbidden'],
      ['shipper', 'forbidden'],
    ]);
  });

  it('a family outside the patterns is 403 FORBIDDEN naming the first such family, never other tokens', () => {
    const shipper = who('shipper-secret');
    access.require(shipper, 'ingest', ['osquery_users', 'dog_registry', 'osquery_']);
    const error = appErrorOf(() => access.require(shipper, 'ingest', ['osquery_users', 'cat_registry', 'bird_registry']));
    expect(error.code).toBe('FORBIDDEN');
    expect(error.message).toBe('token "shipper" may not use family "cat_registry"; its families are osquery_*, dog_registry');
    expect(error.details).toEqual({ token: 'shipper', family: 'cat_registry' });
    for (const other of ['analyst', 'ops', 'scraper', 'dogs_admin']) expect(error.message).not.toContain(other);
  });

  it('checks the scope before the families', () => {
    const shipper = who('shipper-secret');
    expect(appErrorOf(() => access.require(shipper, 'admin', ['cat_registry'])).details).toEqual({ token: 'shipper', scope: 'admin' });
  });

  it('shortens a huge family name in the message', () => {
    const error = appErrorOf(() => access.require(who('shipper-secret'), 'ingest', ['x'.repeat(10_000)]));
    expect(error.message.length).toBeLessThan(300);
  });

  it('canSee and familyFilter tell the query layer what a token may read', () => {
    const shipper = who('shipper-secret');
    expect(shipper.canSee('osquery_users')).toBe(true);
    expect(shipper.canSee('dog_registry')).toBe(true);
    expect(shipper.canSee('cat_registry')).toBe(false);
    // raw_logs is not a family: a restricted token sees it only through familyFilter.
    expect(who('dogs-admin-secret').canSee('raw_logs')).toBe(false);
    expect(shipper.familyFilter()).toEqual({ all: false, patterns: ['osquery_*', 'dog_registry'] });
    const analyst = who('analyst-secret');
    expect(analyst.canSee('raw_logs')).toBe(true);
    expect(analyst.canSee('cat_registry')).toBe(true);
    expect(analyst.familyFilter()).toEqual({ all: true });
  });

  it('shows no secret in a principal', () => {
    const text = JSON.stringify(who('shipper-secret'));
    expect(text).not.toContain('shipper-secret');
    expect(text).not.toContain(sha256('shipper-secret').toString('hex'));
    expect(text).toContain('"name":"shipper"');
  });
});

describe('chargeRequest and chargeEvents', () => {
  it('refuses requests over requests_per_minute with 429 RATE_LIMITED and retryAfterSeconds', async () => {
    const { access, decisions, advance } = service();
    const ops = access.authenticate('Bearer ops-secret');
    for (let i = 0; i < 3; i++) await access.chargeRequest(ops);
    const error = await rejectionOf(access.chargeRequest(ops));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.status).toBe(429);
    expect(error.message).toBe('token "ops" reached its limit of 3 requests per minute; retry in 50 s');
    expect(error.details).toEqual({ token: 'ops', limit: 'requests_per_minute', perMinute: 3, retryAfterSeconds: 50 });
    expect(decisions.filter(([, outcome]) => outcome === 'rate_limited')).toEqual([['ops', 'rate_limited']]);
    advance(50_000);
    await access.chargeRequest(ops);
  });

  it('charges events by count against events_per_minute', async () => {
    const { access } = service();
    const ops = access.authenticate('Bearer ops-secret');
    await access.chargeEvents(ops, 600);
    await access.chargeEvents(ops, 0);
    const error = await rejectionOf(access.chargeEvents(ops, 500));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.message).toBe('token "ops" reached its limit of 1000 events per minute (400 left, 500 sent); retry in 50 s or send fewer events');
    expect(error.details).toMatchObject({ limit: 'events_per_minute', perMinute: 1000, retryAfterSeconds: 50 });
    await access.chargeEvents(ops, 400);
  });

  it('says when one batch is larger than the whole budget', async () => {
    const { access } = service();
    const ops = access.authenticate('Bearer ops-secret');
    const error = await rejectionOf(access.chargeEvents(ops, 1001));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.message).toBe('token "ops" may ingest at most 1000 events per minute and this request has 1001; split it into requests of at most 1000 events');
  });

  it('never limits a token without limits', async () => {
    const { access } = service();
    const analyst = access.authenticate('Bearer analyst-secret');
    for (let i = 0; i < 1000; i++) await access.chargeRequest(analyst);
    await access.chargeEvents(analyst, 10_000_000);
  });

  it('keeps budgets per token name', async () => {
    const { access } = service({
      current: tokenSet({ tokens: [
        { name: 'a', token: 'ta', scopes: ['query'], limits: { requests_per_minute: 1 } },
        { name: 'b', token: 'tb', scopes: ['query'], limits: { requests_per_minute: 1 } },
      ] }),
    });
    await access.chargeRequest(access.authenticate('Bearer ta'));
    await access.chargeRequest(access.authenticate('Bearer tb'));
    expect((await rejectionOf(access.chargeRequest(access.authenticate('Bearer ta')))).code).toBe('RATE_LIMITED');
  });

  it('rejects a negative or fractional event count as a programming error', async () => {
    const { access } = service();
    const ops = access.authenticate('Bearer ops-secret');
    await expect(access.chargeEvents(ops, -1)).rejects.toThrow(RangeError);
    await expect(access.chargeEvents(ops, 1.5)).rejects.toThrow(RangeError);
  });
});
