/**
 * The tokens file of access control (`--tokens_file`): parsing and checking
 * its JSON text into a frozen {@link TokenSet}, the family globs, and the
 * SHA-256 digest every token is compared by.
 *
 * ```json
 * {"tokens": [
 *   {"name": "shipper", "token": "s3cr3t-plain-value", "scopes": ["ingest"], "families": ["osquery_*", "dog_registry"]},
 *   {"name": "analyst", "sha256": "<hex sha-256 of the token>", "scopes": ["query"]},
 *   {"name": "ops", "sha256": "<hex>", "scopes": ["admin", "metrics"], "limits": {"requests_per_minute": 600, "events_per_minute": 1000000}}
 * ]}
 * ```
 *
 * Owns: the file's format and every rule on it. A plain `token` is hashed
 * here and dropped: the parsed set holds only digests, so no secret lives on
 * in memory dumps of the set, in logs or in errors. Problems name entries by
 * index and name, never by token or digest value (a JSON syntax error gives
 * the line and column only, because the engine's message quotes the text).
 * Must not: read files, log, or know about requests (services/token-store.ts
 * reads and reloads the file; services/access-service.ts authenticates).
 */
import { createHash } from 'node:crypto';
import { AppError } from '../errors/app-error.js';

/** The scopes a token may hold. `admin` implies `ingest` and `query` (not `metrics`). */
export const SCOPES = ['ingest', 'query', 'admin', 'metrics'] as const;

/** One scope of {@link SCOPES}. */
export type Scope = (typeof SCOPES)[number];

/** Per-token limits per minute; null: unlimited. */
export interface TokenLimits {
  /** requests_per_minute: requests (any route) per minute. */
  readonly requestsPerMinute: number | null;
  /** events_per_minute: ingested events per minute, charged by count. */
  readonly eventsPerMinute: number | null;
}

/** One configured token, without its secret. */
export interface TokenEntry {
  /** The token's name: what logs, metrics and messages show instead of the secret. */
  readonly name: string;
  /** SHA-256 of the token's UTF-8 bytes (32 bytes). */
  readonly digest: Buffer;
  /** Its scopes, as listed (deduplicated). */
  readonly scopes: readonly Scope[];
  /** Exact family names or `*` globs; null: every family. */
  readonly families: readonly string[] | null;
  readonly limits: TokenLimits;
}

/** The parsed tokens file. Deep-frozen (the digests are Buffers, not frozen, and never handed out). */
export interface TokenSet {
  readonly tokens: readonly TokenEntry[];
}

/** Characters of a family name, and of a glob besides `*` (schema/identifiers.ts's family rule). */
const GLOB_PATTERN = /^[A-Za-z0-9_*]{1,64}$/;
/** Token names appear in logs and metric labels: a safe, short alphabet. */
const NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
/** A plain token travels in an HTTP header: visible ASCII, no spaces. */
const TOKEN_PATTERN = /^[\x21-\x7e]+$/;
const HEX_DIGEST_PATTERN = /^[0-9a-fA-F]{64}$/;

const ENTRY_KEYS = ['name', 'token', 'sha256', 'scopes', 'families', 'limits'] as const;
const LIMIT_KEYS = { requests_per_minute: 'requestsPerMinute', events_per_minute: 'eventsPerMinute' } as const;
const SCOPE_LIST = SCOPES.join(', ');

/** SHA-256 of `text`'s UTF-8 bytes. */
export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Parses the text of a tokens file.
 *
 * @param source the file's path, for messages.
 * @throws AppError `CONFIG_INVALID` listing every problem (one per line in the
 *   message, and as `details.problems: string[]`, each starting with
 *   `tokens file <source>: `), as config.ts's loadConfig does.
 */
export function parseTokens(text: string, source: string): TokenSet {
  const problems: string[] = [];
  const set = parseInto(text.replace(/^\uFEFF/, ''), problems);
  if (problems.length > 0 || set === null) {
    const located = problems.map((p) => `tokens file ${source}: ${p}`);
    const noun = located.length === 1 ? 'problem' : 'problems';
    throw new AppError(
      'CONFIG_INVALID',
      `invalid tokens file ${source} (${located.length} ${noun}; fix it, or leave --tokens_file empty to turn access control off):\n${located.map((p) => `  - ${p}`).join('\n')}`,
      { problems: located, file: source },
    );
  }
  return set;
}

function parseInto(text: string, problems: string[]): TokenSet | null {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    problems.push(`is not valid JSON${syntaxErrorPlace(text, error)}; check commas, quotes and brackets`);
    return null;
  }
  if (!isPlainObject(document)) {
    problems.push('must be a JSON object like {"tokens": [...]}');
    return null;
  }
  for (const key of Object.keys(document)) {
    if (key !== 'tokens') problems.push(`unknown key ${quoteShort(key)}; the file has only "tokens"`);
  }
  const list = document['tokens'];
  if (list === undefined) {
    problems.push('"tokens" is missing; give {"tokens": [{"name": ..., "token": ..., "scopes": [...]}]}');
    return null;
  }
  if (!Array.isArray(list)) {
    problems.push('"tokens" must be a list of token objects');
    return null;
  }
  if (list.length === 0) {
    problems.push('lists no tokens; add at least one, or leave --tokens_file empty to turn access control off');
    return null;
  }
  const tokens: TokenEntry[] = [];
  const byName = new Map<string, number>();
  const byDigest = new Map<string, { index: number; name: string }>();
  list.forEach((item: unknown, index) => {
    const entry = parseEntry(item, index, problems);
    if (entry === null) return;
    const label = `tokens[${index}] ("${entry.name}")`;
    const sameName = byName.get(entry.name);
    if (sameName !== undefined) problems.push(`${label}: name "${entry.name}" is already used by tokens[${sameName}]; names must be unique`);
    else byName.set(entry.name, index);
    // Digests as Map keys only at load time, to find duplicates; requests compare in constant time.
    const key = entry.digest.toString('hex');
    const sameToken = byDigest.get(key);
    if (sameToken !== undefined) problems.push(`${label}: has the same token as tokens[${sameToken.index}] ("${sameToken.name}"); every token must be different`);
    else byDigest.set(key, { index, name: entry.name });
    tokens.push(entry);
  });
  return Object.freeze({ tokens: Object.freeze(tokens) });
}

/** One entry, or null when it has problems (pushed). */
function parseEntry(item: unknown, index: number, problems: string[]): TokenEntry | null {
  if (!isPlainObject(item)) {
    problems.push(`tokens[${index}] must be an object like {"name": "shipper", "token": "...", "scopes": ["ingest"]}`);
    return null;
  }
  const before = problems.length;
  const rawName = item['name'];
  let name = '';
  let label = `tokens[${index}]`;
  if (rawName === undefined) problems.push(`${label}: "name" is missing; every token needs a name for logs and metrics`);
  else if (typeof rawName !== 'string' || !NAME_PATTERN.test(rawName)) {
    problems.push(`${label}: "name" must be 1-64 letters, digits, or any of _ . : - (it appears in logs and metrics), got ${describeValue(rawName)}`);
  } else {
    name = rawName;
    label = `tokens[${index}] ("${name}")`;
  }

  for (const key of Object.keys(item)) {
    if (!(ENTRY_KEYS as readonly string[]).includes(key)) problems.push(`${label}: unknown key ${quoteShort(key)}; allowed keys are ${ENTRY_KEYS.join(', ')}`);
  }

  const digest = parseSecret(item, label, problems);
  const scopes = parseScopes(item['scopes'], label, problems);
  const families = parseFamilies(item['families'], label, problems);
  const limits = parseLimits(item['limits'], label, problems);
  if (problems.length > before || digest === null || scopes === null || limits === null) return null;
  return Object.freeze({ name, digest, scopes, families, limits });
}

function parseSecret(item: Record<string, unknown>, label: string, problems: string[]): Buffer | null {
  const token = item['token'];
  const hex = item['sha256'];
  if (token === undefined && hex === undefined) {
    problems.push(`${label}: give the token as "token" (plain) or "sha256" (hex SHA-256 of the token)`);
    return null;
  }
  if (token !== undefined && hex !== undefined) {
    problems.push(`${label}: give either "token" or "sha256", not both`);
    return null;
  }
  if (token !== undefined) {
    if (typeof token !== 'string') problems.push(`${label}: "token" must be a string`);
    else if (token === '') problems.push(`${label}: "token" is empty; use a long random value`);
    else if (!TOKEN_PATTERN.test(token)) problems.push(`${label}: "token" must be visible ASCII characters without spaces (it travels in an HTTP header)`);
    else return sha256(token);
    return null;
  }
  if (typeof hex !== 'string') {
    problems.push(`${label}: "sha256" must be a string of 64 hex digits (the SHA-256 of the token)`);
    return null;
  }
  if (!HEX_DIGEST_PATTERN.test(hex)) {
    problems.push(`${label}: "sha256" must be 64 hex digits (the SHA-256 of the token), got ${hex.length} characters${hex.length === 64 ? ' that are not all hex digits' : ''}; e.g. printf %s "$TOKEN" | sha256sum`);
    return null;
  }
  return Buffer.from(hex, 'hex');
}

function parseScopes(value: unknown, label: string, problems: string[]): readonly Scope[] | null {
  if (value === undefined) {
    problems.push(`${label}: "scopes" is missing; give a list of ${SCOPE_LIST}`);
    return null;
  }
  if (!Array.isArray(value)) {
    problems.push(`${label}: "scopes" must be a list of ${SCOPE_LIST}`);
    return null;
  }
  if (value.length === 0) {
    problems.push(`${label}: "scopes" is empty; give at least one of ${SCOPE_LIST}`);
    return null;
  }
  const scopes: Scope[] = [];
  let ok = true;
  for (const scope of value as unknown[]) {
    if (typeof scope === 'string' && (SCOPES as readonly string[]).includes(scope)) {
      if (!scopes.includes(scope as Scope)) scopes.push(scope as Scope);
    } else {
      problems.push(`${label}: unknown scope ${typeof scope === 'string' ? quoteShort(scope) : describeValue(scope)}; scopes are ${SCOPE_LIST}`);
      ok = false;
    }
  }
  return ok ? Object.freeze(scopes) : null;
}

/** The patterns, or null for every family (absent, or a pattern of only `*`). */
function parseFamilies(value: unknown, label: string, problems: string[]): readonly string[] | null {
  if (value === undefined) return null;
  if (!Array.isArray(value)) {
    problems.push(`${label}: "families" must be a list of family names or * globs, e.g. ["osquery_*", "dog_registry"]`);
    return null;
  }
  if (value.length === 0) {
    problems.push(`${label}: "families" is empty; leave it out for every family, or list names or * globs`);
    return null;
  }
  const patterns: string[] = [];
  for (const pattern of value as unknown[]) {
    if (typeof pattern === 'string' && GLOB_PATTERN.test(pattern)) {
      if (!patterns.includes(pattern)) patterns.push(pattern);
    } else {
      problems.push(`${label}: family pattern ${describeValue(pattern)} must be 1-64 letters, digits, underscores or * (any run of those)`);
    }
  }
  if (patterns.some((p) => /^\*+$/.test(p))) return null;
  return Object.freeze(patterns);
}

function parseLimits(value: unknown, label: string, problems: string[]): TokenLimits | null {
  const limits = { requestsPerMinute: null as number | null, eventsPerMinute: null as number | null };
  if (value === undefined) return Object.freeze(limits);
  if (!isPlainObject(value)) {
    problems.push(`${label}: "limits" must be an object like {"requests_per_minute": 600, "events_per_minute": 100000}`);
    return null;
  }
  let ok = true;
  for (const [key, limit] of Object.entries(value)) {
    const field = Object.hasOwn(LIMIT_KEYS, key) ? LIMIT_KEYS[key as keyof typeof LIMIT_KEYS] : undefined;
    if (field === undefined) {
      problems.push(`${label}: unknown limit ${quoteShort(key)}; limits are ${Object.keys(LIMIT_KEYS).join(', ')}`);
      ok = false;
    } else if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
      problems.push(`${label}: limits.${key} must be a positive integer, got ${describeValue(limit)}`);
      ok = false;
    } else {
      limits[field] = limit;
    }
  }
  return ok ? Object.freeze(limits) : null;
}

/**
 * True when `family` matches the glob `pattern` (`*`: any run of name
 * characters, possibly empty; everything else literal, case-sensitive like
 * family names). Greedy matching with one backtrack point: O(n*m) at worst,
 * never exponential.
 */
export function globMatches(pattern: string, family: string): boolean {
  let p = 0;
  let f = 0;
  let star = -1;
  let resume = 0;
  while (f < family.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === family[f]) {
      p++;
      f++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = f;
    } else if (star >= 0) {
      p = star + 1;
      f = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** A predicate for a token's `families`: null allows every family; otherwise any matching pattern. */
export function familyMatcher(patterns: readonly string[] | null): (family: string) => boolean {
  if (patterns === null) return () => true;
  const exact = new Set(patterns.filter((p) => !p.includes('*')));
  const globs = patterns.filter((p) => p.includes('*'));
  return (family) => exact.has(family) || globs.some((glob) => globMatches(glob, family));
}

/** " (line L column C)" of a JSON syntax error, never the engine's message (it quotes the text). */
function syntaxErrorPlace(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : '';
  const lineColumn = /line (\d+) column (\d+)/.exec(message);
  if (lineColumn) return ` (line ${lineColumn[1]} column ${lineColumn[2]})`;
  const position = /position (\d+)/.exec(message);
  if (position) {
    const offset = Number(position[1]);
    const before = text.slice(0, offset).split('\n');
    return ` (line ${before.length} column ${(before.at(-1)?.length ?? 0) + 1})`;
  }
  if (text.trim() === '') return ' (the file is empty)';
  return /end of JSON/i.test(message) ? ' (it ends too early)' : '';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A key or scope as written, shortened and quoted. */
function quoteShort(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text);
}

/** A non-secret value for a message: strings shortened and quoted, others as JSON. */
function describeValue(value: unknown): string {
  if (typeof value === 'string') return quoteShort(value);
  if (value === undefined) return 'nothing';
  const json = JSON.stringify(value) ?? String(value);
  return json.length > 40 ? `${json.slice(0, 40)}...` : json;
}
