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
