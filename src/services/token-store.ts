/**
 * The current token set of `--tokens_file`, reloadable without a restart.
 *
 * `TokenStore.open` reads the file at start-up and throws `CONFIG_INVALID`
 * (main.ts turns it into one line and exit 2). `reload()` reads it again:
 * a valid file replaces the set at once (requests in flight keep the
 * principal they authenticated with); a broken or missing file keeps the old
 * set and logs an error listing the problems, which never contain secrets
 * (config/tokens.ts words them by entry index and name). main.ts calls
 * `reload()` on SIGHUP; `watch()` also polls the file's stat every ~2 s and
 * reloads when it differs from the stat taken when the file was last read
 * (inode, size, mtime, ctime). Polling keeps working when editors replace the
 * file by a rename, where inotify-style watchers lose it; and comparing with
 * the last read (not with the previous poll, as fs.watchFile does) misses no
 * change made between a read and the first poll. A file that stays broken or
 * missing is reported once, not at every poll.
 */
import { readFileSync, statSync } from 'node:fs';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../logging/logger.js';
import { parseTokens, type TokenSet } from '../config/tokens.js';

/** What the access service reads the current set from. */
export interface TokenSource {
  readonly current: TokenSet;
}

/** The outcome of a reload. */
export type ReloadResult = { readonly ok: true; readonly tokens: number } | { readonly ok: false; readonly problems: readonly string[] };

/** Reads the tokens file; throws CONFIG_INVALID when it cannot be read or is invalid. */
function readTokens(path: string): TokenSet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    const problem = `tokens file ${path}: cannot be read (${code}); check --tokens_file`;
    throw new AppError('CONFIG_INVALID', `invalid tokens file ${path}:\n  - ${problem}`, { problems: [problem], file: path });
  }
  return parseTokens(text, path);
}

/** The file's identity and version as stat sees it; null when it cannot be stat'ed. */
function stampOf(path: string): string | null {
  try {
    const stats = statSync(path);
    return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
  } catch {
    return null;
  }
}

/** Holds the parsed tokens file and reloads it. */
export class TokenStore implements TokenSource {
  private set: TokenSet;
  /** The stamp taken just before the file was last read (successfully or not). */
  private stamp: string | null;
  private timer: NodeJS.Timeout | null = null;

  private constructor(
    readonly path: string,
    initial: TokenSet,
    stamp: string | null,
    private readonly logger: Logger,
  ) {
    this.set = initial;
    this.stamp = stamp;
  }

  /**
   * Reads the file once, for start-up.
   * @throws AppError `CONFIG_INVALID` with `details.problems` when it cannot be read or is invalid.
   */
  static open(path: string, logger: Logger): TokenStore {
    const stamp = stampOf(path);
    return new TokenStore(path, readTokens(path), stamp, logger);
  }

  /** The token set in force. */
  get current(): TokenSet {
    return this.set;
  }

  /** Reads the file again: a valid file replaces the set; otherwise the old set stays and an error is logged. */
  reload(): ReloadResult {
    this.stamp = stampOf(this.path);
    try {
      this.set = readTokens(this.path);
    } catch (error) {
      const problems = error instanceof AppError && Array.isArray(error.details['problems']) ? (error.details['problems'] as string[]) : ['cannot be parsed'];
      const count = this.set.tokens.length;
      this.logger.error({ path: this.path, problems }, `tokens file is invalid; keeping the ${count} token${count === 1 ? '' : 's'} loaded before`);
      return { ok: false, problems };
    }
    this.logger.info({ path: this.path, tokens: this.set.tokens.length }, 'tokens file reloaded');
    return { ok: true, tokens: this.set.tokens.length };
  }

  /** Polls the file every `intervalMs` and reloads when it changed (never keeps the process alive). Idempotent. */
  watch(intervalMs = 2000): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      if (stampOf(this.path) !== this.stamp) this.reload();
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops watching. */
  close(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }
}
