/**
 * Validation verdicts cached by query digest (query/sql-digest.ts), so the
 * SQL parser runs once per query shape instead of once per text: a
 * dashboard sending `... WHERE id = N` for a thousand N parses once.
 *
 * What is cached is the parser's verdict only: that the statement is an
 * accepted SELECT, and the tables it reads. Every request still runs the
 * lexical checks itself (lexStatement: length, NUL, comments, stacked
 * statements, keywords), gets its own trimmed text, and is routed afresh
 * (family -> shard comes from the catalog on every request, never from
 * here), so nothing here goes stale when families are created, dropped or
 * moved. Refusals are never cached (their messages carry offsets into the
 * text), and a verdict is cached only when a probe text of the same digest
 * with other literal values gets the same verdict and tables. Per process,
 * bounded (least recently used out), no I/O.
 */
import { analyseStatement, lexStatement, type SqlLimits, type ValidatedQuery } from './validate-sql.js';
import { digestStatement, probeText } from './sql-digest.js';

/** Digests kept per process by default. */
export const DEFAULT_DIGEST_CACHE_ENTRIES = 1000;

/** Longest digest key cached, characters: longer statements are validated in full each time (bounds the cache's memory). */
const MAX_KEY_LENGTH = 4000;

/** A cached verdict: the tables, or null for a shape whose verdict depends on its literals (always validated in full). */
type Verdict = readonly string[] | null;

/** Validates SQL as validateSql does, answering repeated query shapes from a bounded cache. */
export class ValidationCache {
  private readonly verdicts = new Map<string, Verdict>();

  /**
   * `limits` are the text bounds (query_max_length, query_max_tokens);
   * `maxEntries` the digests kept (0: no cache, every text parsed).
   */
  constructor(
    private readonly limits: SqlLimits = {},
    readonly maxEntries: number = DEFAULT_DIGEST_CACHE_ENTRIES,
  ) {}

  /** Digests currently cached. */
  get size(): number {
    return this.verdicts.size;
  }

  /**
   * Validates `sql`: the same result and the same errors as
   * `validateSql(sql, limits)`, except that an answer from the cache has no
   * `ast` (call {@link ValidationCache.full} where the AST is needed).
   */
  validate(sql: unknown): ValidatedQuery {
    const lexed = lexStatement(sql, this.limits);
    if (this.maxEntries <= 0) return analyseStatement(lexed);
    const digest = digestStatement(lexed);
    if (digest.key.length > MAX_KEY_LENGTH) return analyseStatement(lexed);
    const cached = this.verdicts.get(digest.key);
    if (cached !== undefined) {
      // Most recently used last: Map keeps insertion order.
      this.verdicts.delete(digest.key);
      this.verdicts.set(digest.key, cached);
      if (cached !== null) return { sql: lexed.sql, tables: [...cached], lexed };
      return analyseStatement(lexed);
    }
    const validated = analyseStatement(lexed); // a refusal throws here and is not cached
    this.remember(digest.key, digest.slots.length === 0 || this.probeAgrees(probeText(lexed.sql, digest.slots), validated.tables) ? validated.tables : null);
    return validated;
  }

  /** Validates `sql` in full, AST included (for the planners that read it). */
  full(sql: unknown): ValidatedQuery {
    return analyseStatement(lexStatement(sql, this.limits));
  }

  /** Drops every cached verdict. */
  clear(): void {
    this.verdicts.clear();
  }

  private probeAgrees(probe: string, tables: readonly string[]): boolean {
    try {
      const other = analyseStatement(lexStatement(probe, { maxLength: Number.MAX_SAFE_INTEGER, maxTokens: Number.MAX_SAFE_INTEGER }));
      return other.tables.length === tables.length && other.tables.every((t, k) => t === tables[k]);
    } catch {
      return false;
    }
  }

  private remember(key: string, verdict: Verdict): void {
    this.verdicts.set(key, verdict === null ? null : Object.freeze([...verdict]));
    while (this.verdicts.size > this.maxEntries) {
      const oldest = this.verdicts.keys().next();
      if (oldest.done === true) break;
      this.verdicts.delete(oldest.value);
    }
  }
}
