/**
 * The pino root logger. main.ts creates one; everything else receives it (or a
 * child: one per request with `reqId`, one per shard with `shard`).
 */
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Creates the root logger at `level`; structured JSON on stdout, never credentials. */
export function createLogger(level: string, options: LoggerOptions = {}): Logger {
  return pino({
    level,
    base: { service: 'databalancer' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['password', '*.password', 'config.shards[*].password'], censor: '[redacted]' },
    ...options,
  });
}

/** What fastify needs of a request's logger (its FastifyBaseLogger). */
export interface RequestLogger {
  level: string;
  fatal: pino.LogFn;
  error: pino.LogFn;
  warn: pino.LogFn;
  info: pino.LogFn;
  debug: pino.LogFn;
  trace: pino.LogFn;
  silent: pino.LogFn;
  child(bindings: pino.Bindings, options?: pino.ChildLoggerOptions): RequestLogger;
}

type Write = (...args: unknown[]) => void;

/** The levels a request logger writes at. */
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

/**
 * A child logger made only when something is written through it: pino's
 * child() costs a few microseconds, and most requests write nothing at the
 * gateway's usual levels. Its level is the parent's until it exists (or the
 * level its options set).
 */
class LazyChildLogger {
  private made: RequestLogger | undefined;

  constructor(
    private readonly parent: RequestLogger,
    private readonly bindings: pino.Bindings,
    private readonly options: pino.ChildLoggerOptions | undefined,
  ) {}

  private get real(): RequestLogger {
    // A lazy parent is made first: its child() would give another lazy one.
    const parent = this.parent instanceof LazyChildLogger ? this.parent.real : this.parent;
    this.made ??= parent.child(this.bindings, this.options);
    return this.made;
  }

  get level(): string {
    return this.made?.level ?? this.options?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.real.level = level;
  }

  // One method per level, each writing through the child made on first use.
  static {
    for (const level of LEVELS) {
      Object.defineProperty(LazyChildLogger.prototype, level, {
        value(this: LazyChildLogger, ...args: unknown[]): void {
          const real = this.real;
          (real[level] as Write).apply(real, args);
        },
      });
    }
  }

  silent(): void {}

  child(bindings: pino.Bindings, options?: pino.ChildLoggerOptions): RequestLogger {
    return new LazyChildLogger(this as unknown as RequestLogger, bindings, options) as unknown as RequestLogger;
  }
}

/**
 * fastify's childLoggerFactory: each request's logger (with `reqId`) as a
 * lazy child, made into pino's child on its first line.
 */
export function lazyRequestLogger(logger: RequestLogger, bindings: pino.Bindings, options: pino.ChildLoggerOptions): RequestLogger {
  return new LazyChildLogger(logger, bindings, Object.keys(options).length === 0 ? undefined : options) as unknown as RequestLogger;
}
