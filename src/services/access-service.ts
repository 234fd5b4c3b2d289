/**
 * Access control: who a request is (`authenticate`), what it may do
 * (`require`, `Principal.canSee`, `Principal.familyFilter`) and how much
 * (`chargeRequest`, `chargeEvents`), over the tokens of `--tokens_file`.
 *
 * The transports call it, in this order, for every request:
 *   const principal = access.authenticate(request.headers.authorization); // 401 UNAUTHENTICATED
 *   await access.chargeRequest(principal);                                 // 429 RATE_LIMITED
 *   access.require(principal, 'ingest', [family]);                          // 403 FORBIDDEN
 *   await access.chargeEvents(principal, events.length);                   // 429, ingest only
 * and log `principal.name`, never the header. With access control off
 * (`tokens: null`) `authenticate` returns {@link ANONYMOUS}, which may do
 * everything, and the charges do nothing.
 *
 * Scopes: `ingest`, `query`, `admin` (implies `ingest` and `query`),
 * `metrics` (not implied by admin). `families` patterns restrict every scope
 * that names families. `raw_logs` is not a family: `canSee('raw_logs')` is
 * true only for unrestricted tokens; the query layer asks `familyFilter()` to
 * decide whether to refuse raw_logs or limit its rows to the patterns.
 *
 * Constant time: the presented token is hashed with SHA-256 and its digest is
 * compared with crypto.timingSafeEqual against EVERY configured digest, with
 * no early exit ({@link findToken}), so the time taken depends on the number
 * of tokens, never on how much of a secret a guess got right. No `===` and no
 * Map lookup ever sees a secret or its digest on the request path: a Map
 * keyed by hex digest would be safe in principle (string comparison leaks
 * where a guessed digest first differs from a real one, and steering a
 * guess's digest means inverting SHA-256), but a scan of a few dozen 32-byte
 * comparisons costs microseconds and needs no such argument.
 *
 * Messages name the requesting token (its `name`, never its secret) and the
 * scope or family it lacks, never other tokens. `onDecision` is the metrics
 * hook: (token name, or null when unauthenticated; outcome).
 */
import { timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../logging/logger.js';
import { RAW_LOGS_TABLE } from '../schema/identifiers.js';
import { SCOPES, familyMatcher, sha256, type Scope, type TokenEntry, type TokenLimits } from '../config/tokens.js';
import { MemoryRateLimiter, createRateLimiter, type RateLimiter, type WindowOptions } from './rate-limiter.js';
import { TokenStore, type TokenSource } from './token-store.js';

/** Which rows of raw_logs a principal may read. */
export type FamilyFilter = { readonly all: true } | { readonly all: false; readonly patterns: readonly string[] };

/** Who a request is. Safe to log (`name`) and to serialise: it holds no secret. */
export interface Principal {
  /** The token's name, or `anonymous` with access control off: the request log and metrics use it. */
  readonly name: string;
  /** True only for {@link ANONYMOUS}. */
  readonly anonymous: boolean;
  /** The scopes as configured (admin's implied ones not expanded). */
  readonly scopes: readonly Scope[];
  readonly limits: TokenLimits;
  /** Whether the principal holds `scope`, directly or through admin. */
  has(scope: Scope): boolean;
  /** Whether the principal may use family `family` (for filtering describe/families/shards lists). */
  canSee(family: string): boolean;
  /** All families, or only those matching the patterns (for raw_logs). */
  familyFilter(): FamilyFilter;
}

/** What a decision was, for metrics per token name. */
export type AccessOutcome = 'authenticated' | 'unauthenticated' | 'forbidden' | 'rate_limited';

/** The metrics hook: called once per decision; name is null when no token was recognised. */
export type DecisionHook = (name: string | null, outcome: AccessOutcome) => void;

const UNLIMITED: TokenLimits = Object.freeze({ requestsPerMinute: null, eventsPerMinute: null });
const ALL: FamilyFilter = Object.freeze({ all: true });

/** The principal of every request when access control is off: every scope, every family, no limits. */
export const ANONYMOUS: Principal = Object.freeze({
  name: 'anonymous',
  anonymous: true,
  scopes: Object.freeze([...SCOPES]),
  limits: UNLIMITED,
  has: () => true,
  canSee: () => true,
  familyFilter: () => ALL,
});

function principalOf(entry: TokenEntry): Principal {
  const matches = familyMatcher(entry.families);
  const filter: FamilyFilter = entry.families === null ? ALL : Object.freeze({ all: false, patterns: entry.families });
  const held = new Set<Scope>(entry.scopes);
  if (held.has('admin')) {
    held.add('ingest');
    held.add('query');
  }
  return Object.freeze({
    name: entry.name,
    anonymous: false,
    scopes: entry.scopes,
    limits: entry.limits,
    has: (scope: Scope) => held.has(scope),
    canSee: (family: string) => entry.families === null || (family.toLowerCase() !== RAW_LOGS_TABLE && matches(family)),
    familyFilter: () => filter,
  });
}

/**
 * The entry whose digest equals SHA-256(`presented`), comparing with `equal`
 * (crypto.timingSafeEqual) against every entry, without stopping at a match.
 */
export function findToken(
  tokens: readonly TokenEntry[],
  presented: string,
  equal: (a: Buffer, b: Buffer) => boolean = timingSafeEqual,
): TokenEntry | undefined {
  const digest = sha256(presented);
  let found: TokenEntry | undefined;
  for (const entry of tokens) {
    // Both are 32 bytes, so timingSafeEqual never throws; every entry is compared.
    if (equal(digest, entry.digest)) found = entry;
  }
  return found;
}

/** `Bearer <token>` (scheme case-insensitive, one token of visible characters). */
const BEARER = /^\s*bearer\s+([\x21-\x7e]+)\s*$/i;

function shorten(text: string, max = 80): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`;
}

export interface AccessServiceOptions {
  /** The current tokens (a TokenStore); null turns access control off. */
  readonly tokens: TokenSource | null;
  /** Where the limits are counted; default in memory. */
  readonly limiter?: RateLimiter;
  /** The metrics hook. */
  readonly onDecision?: DecisionHook | undefined;
}

/** Authentication, authorisation and per-token limits (see the module header). */
export class AccessService {
  private readonly tokens: TokenSource | null;
  private readonly limiter: RateLimiter;
  private readonly onDecision: DecisionHook;
  /** One principal per parsed entry: a reload makes new entries, and old ones are collected. */
  private readonly principals = new WeakMap<TokenEntry, Principal>();

  constructor(options: AccessServiceOptions) {
    this.tokens = options.tokens;
    this.limiter = options.limiter ?? new MemoryRateLimiter();
    this.onDecision = options.onDecision ?? (() => undefined);
  }

  /** Whether access control is on. */
  get enabled(): boolean {
    return this.tokens !== null;
  }

  /**
   * The principal of a request's `Authorization` header.
   * @throws AppError UNAUTHENTICATED (401) when access control is on and the header is missing, malformed or names no token.
   */
  authenticate(authorization: string | undefined | null): Principal {
    if (this.tokens === null) return ANONYMOUS;
    if (authorization === undefined || authorization === null || authorization.trim() === '') {
      throw this.unauthenticated('this gateway requires an access token: send "Authorization: Bearer <token>"', 'missing');
    }
    const match = BEARER.exec(authorization);
    if (match === null) {
      throw this.unauthenticated('the Authorization header must use the Bearer scheme: "Authorization: Bearer <token>"', 'malformed');
    }
    const entry = findToken(this.tokens.current.tokens, match[1] ?? '');
    if (entry === undefined) {
      throw this.unauthenticated("the access token is not valid; send a token from the gateway's tokens file", 'unknown');
    }
    let principal = this.principals.get(entry);
    if (principal === undefined) {
      principal = principalOf(entry);
      this.principals.set(entry, principal);
    }
    this.onDecision(principal.name, 'authenticated');
    return principal;
  }

  /**
   * Checks that `principal` holds `scope` and may use every family in `families`.
   * @throws AppError FORBIDDEN (403) naming the scope, else the first family, it lacks.
   */
  require(principal: Principal, scope: Scope, families: readonly string[] = []): void {
    if (!principal.has(scope)) {
      const alternative = scope === 'ingest' || scope === 'query' ? ` or "admin"` : '';
      throw this.forbidden(principal, `token "${principal.name}" lacks the "${scope}" scope; use a token with scope "${scope}"${alternative}`, { scope });
    }
    for (const family of families) {
      if (!principal.canSee(family)) {
        const filter = principal.familyFilter();
        const patterns = filter.all ? '' : `; its families are ${filter.patterns.join(', ')}`;
        throw this.forbidden(principal, `token "${principal.name}" may not use family "${shorten(family)}"${patterns}`, { family: shorten(family) });
      }
    }
  }

  /**
   * Charges one request to the principal's requests_per_minute.
   * @throws AppError RATE_LIMITED (429) with `details.retryAfterSeconds`.
   */
  async chargeRequest(principal: Principal): Promise<void> {
    const limit = principal.limits.requestsPerMinute;
    if (limit === null) return;
    const decision = await this.limiter.take(`${principal.name}:requests`, 1, limit);
    if (decision.allowed) return;
    throw this.rateLimited(
      principal,
      `token "${principal.name}" reached its limit of ${limit} requests per minute; retry in ${decision.retryAfterSeconds} s`,
      'requests_per_minute',
      limit,
      decision.retryAfterSeconds,
    );
  }

  /**
   * Charges `count` ingested events to the principal's events_per_minute (all
   * or nothing: a refused batch consumes no budget).
   * @throws AppError RATE_LIMITED (429) with `details.retryAfterSeconds`.
   * @throws RangeError when count is not a non-negative integer.
   */
  async chargeEvents(principal: Principal, count: number): Promise<void> {
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`event count must be a non-negative integer, got ${count}`);
    const limit = principal.limits.eventsPerMinute;
    if (count === 0 || limit === null) return;
    const decision = await this.limiter.take(`${principal.name}:events`, count, limit);
    if (decision.allowed) return;
    const message =
      count > limit
        ? `token "${principal.name}" may ingest at most ${limit} events per minute and this request has ${count}; split it into requests of at most ${limit} events`
        : `token "${principal.name}" reached its limit of ${limit} events per minute (${limit - decision.used} left, ${count} sent); retry in ${decision.retryAfterSeconds} s or send fewer events`;
    throw this.rateLimited(principal, message, 'events_per_minute', limit, decision.retryAfterSeconds);
  }

  private unauthenticated(message: string, reason: 'missing' | 'malformed' | 'unknown'): AppError {
    this.onDecision(null, 'unauthenticated');
    return new AppError('UNAUTHENTICATED', message, { reason });
  }

  private forbidden(principal: Principal, message: string, details: Record<string, unknown>): AppError {
    this.onDecision(principal.name, 'forbidden');
    return new AppError('FORBIDDEN', message, { token: principal.name, ...details });
  }

  private rateLimited(principal: Principal, message: string, limit: string, perMinute: number, retryAfterSeconds: number): AppError {
    this.onDecision(principal.name, 'rate_limited');
    return new AppError('RATE_LIMITED', message, { token: principal.name, limit, perMinute, retryAfterSeconds });
  }
}

/** Access control as app.ts builds it from `config.access`. */
export interface AccessControl {
  readonly access: AccessService;
  /** Null when access control is off. main.ts calls `store.reload()` on SIGHUP. */
  readonly store: TokenStore | null;
  readonly limiter: RateLimiter | null;
  /** Stops watching the file and closes the limiter's connection. */
  close(): Promise<void>;
}

/**
 * Builds access control from `config.access`: off without a tokens file;
 * else the file is read (and watched, unless `watchIntervalMs` is 0) and
 * limits are counted in memory or through `rateLimitRedis`.
 * @throws AppError CONFIG_INVALID when the tokens file cannot be read or is invalid.
 */
export function openAccessControl(
  settings: { readonly tokensFile: string | null; readonly rateLimitRedis: string | null },
  logger: Logger,
  options: { readonly onDecision?: DecisionHook; readonly watchIntervalMs?: number } & WindowOptions = {},
): AccessControl {
  if (settings.tokensFile === null) {
    return { access: new AccessService({ tokens: null }), store: null, limiter: null, close: () => Promise.resolve() };
  }
  const store = TokenStore.open(settings.tokensFile, logger);
  const limiter = createRateLimiter(settings.rateLimitRedis, logger, options);
  if (options.watchIntervalMs !== 0) store.watch(options.watchIntervalMs);
  const access = new AccessService({ tokens: store, limiter, onDecision: options.onDecision });
  return {
    access,
    store,
    limiter,
    close: async () => {
      store.close();
      await limiter.close();
    },
  };
}
