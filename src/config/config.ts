/**
 * Configuration (README, "Configuration"): turns command-line flags and
 * `DATABALANCER_<FLAG>` environment variables into one validated, deep-frozen
 * {@link Config}.
 *
 * Owns: the flag table (names, defaults, meanings), flag syntax, shard list
 * parsing, validation and the `--help` text.
 * Must not: read `process.env` / `process.argv` (callers pass them in), do I/O,
 * log, or exit. `main.ts` turns {@link HelpRequested} into exit 0 and
 * `CONFIG_INVALID` into exit 2.
 */
import { AppError } from '../errors/app-error.js';

/** One MySQL/MariaDB server and database that holds family tables (or the catalog). */
export interface ShardConfig {
  /** Stable shard id: the `name=` given in `--shards`, else `host:port/database` (`catalog` for a separate catalog server). Never changes once in the catalog. */
  readonly id: string;
  /** Host name or IP address; IPv6 without brackets (`::1`). */
  readonly host: string;
  /** TCP port, 1-65535. */
  readonly port: number;
  /** MySQL user. */
  readonly user: string;
  /** MySQL password (never log it). */
  readonly password: string;
  /** Database (schema) on that server; created if missing. */
  readonly database: string;
  /** True when the operator named it (`name=` in --shards, or the separate `catalog`); unnamed shards may take the id their database recorded (shards/shard-identity.ts). */
  readonly named: boolean;
}

/** The validated configuration of one gateway process. Deep-frozen. */
export interface Config {
  /** mysql_address: `host:port` of the single server used when `shards` is not given; default `localhost:3306`. */
  readonly mysqlAddress: string;
  /** mysql_username: user for servers given without credentials; default `root`. */
  readonly mysqlUsername: string;
  /** mysql_password: password for servers given without credentials; default empty. */
  readonly mysqlPassword: string;
  /** mysql_database: database for servers given without one; default `databalancer`. */
  readonly mysqlDatabase: string;
  /**
   * server_address: HTTP listen address; default `:8080`. `host` is `0.0.0.0`
   * when the address has no host (listen on all interfaces); `address` is the
   * text as given, for the start-up line `Starting HTTP server on :8080`.
   */
  readonly server: { readonly host: string; readonly port: number; readonly address: string };
  /** shards: the shards, in the order given; default one shard built from the mysql_* flags. Never empty. */
  readonly shards: readonly ShardConfig[];
  /** catalog: where the catalog lives; default the first shard. Either one of `shards` or a separate server with id `catalog`. */
  readonly catalog: ShardConfig;
  /** log_level (or LOG_LEVEL): fatal|error|warn|info|debug|trace|silent; default `info`. */
  readonly logLevel: string;
  /** NODE_ENV=production; default false. */
  readonly production: boolean;
  /** body_limit_bytes: largest accepted request body, bytes; default 16777216 (16 MiB). */
  readonly bodyLimitBytes: number;
  /** max_columns: most columns a family table may have, columns; default 1000. */
  readonly maxColumns: number;
  /** query_timeout_ms: statement time limit of a read query, milliseconds; default 10000. */
  readonly queryTimeoutMs: number;
  /** query_max_rows: row cap of a query result, rows; default 10000. */
  readonly queryMaxRows: number;
  /** federation_max_rows: rows a cross-shard query may move, rows; default 1000000. */
  readonly federationMaxRows: number;
  /** idempotency_ttl_seconds: how long an Idempotency-Key is remembered, seconds; default 86400. */
  readonly idempotencyTtlSeconds: number;
  /** pool_max: connections per shard pool, connections; default 10. */
  readonly poolMax: number;
  /** workers: gateway processes sharing the listen port, processes; default 1. */
  readonly workers: number;
  /** heap_growing_percent: how far the JS heap may grow past its live size before a full garbage collection, percent; default 50; 0 leaves it to V8. */
  readonly heapGrowingPercent: number;
  /** ring_vnodes: virtual nodes per shard on the hash ring, points; default 160. */
  readonly ringVnodes: number;
  /** raw_logs: keep the lossless raw_logs copy of each event, boolean; default true. */
  readonly rawLogs: boolean;
  /** Retention and the background purger. */
  readonly retention: {
    /** default_retention: how long events of families without their own policy are kept, seconds; default null (forever). */
    readonly defaultSeconds: number | null;
    /** purge_interval_seconds: time between purger runs, seconds; default 60; 0 disables the purger. */
    readonly purgeIntervalSeconds: number;
    /** purge_batch_size: rows deleted per purge statement, rows; default 5000. */
    readonly purgeBatchSize: number;
    /** True when purge_interval_seconds > 0. */
    readonly purgerEnabled: boolean;
  };
  /** Moving families between shards (docs/moving.md). */
  readonly moves: {
    /** move_batch_rows: rows copied and verified per batch, rows; default 5000. */
    readonly batchRows: number;
    /** move_rows_per_second: copy rate cap, rows per second; default 50000; 0: uncapped. */
    readonly rowsPerSecond: number;
    /** move_source_grace_seconds: how long the source table is kept, renamed, after the switch, seconds; default 0. */
    readonly sourceGraceSeconds: number;
    /** move_lease_seconds: lease of the process driving a move; another process resumes it this long after a crash, seconds; default 15. */
    readonly leaseSeconds: number;
  };
  /** GraphQL endpoint options. */
  readonly graphql: {
    /** graphql_introspection: allow schema introspection, boolean; default true. */
    readonly introspection: boolean;
    /**
     * graphql_explorer: the page GET /graphql serves to browsers: Apollo
     * Sandbox (loads from Apollo's CDN), GraphiQL (served from this package,
     * works offline), or none; default sandbox, graphiql when production.
     */
    readonly explorer: 'sandbox' | 'graphiql' | 'off';
    /** graphql_max_depth: deepest allowed selection, levels; default 12. */
    readonly maxDepth: number;
    /** graphql_max_cost: cost an operation may have (fields, lists by their factor, rawQuery/rows by the rows they can return), cost units; default 50000. */
    readonly maxCost: number;
    /** graphql_max_statements: SQL statements one operation may run, statements; default 10. */
    readonly maxStatements: number;
  };
  /** Bounds on what one request may use (see the README's limits table). */
  readonly limits: {
    /** query_max_bytes: bytes of rows one query result may carry, bytes; default 8388608 (8 MiB). */
    readonly queryMaxBytes: number;
    /** query_max_length: longest SQL text, characters; default 100000. */
    readonly queryMaxLength: number;
    /** query_max_tokens: most SQL tokens before parsing, tokens; default 5000. */
    readonly queryMaxTokens: number;
    /** federation_max_concurrent: cross-shard queries at once per process, queries; default 4. */
    readonly federationMaxConcurrent: number;
    /** write_timeout_ms: client-side deadline of an ingest write or DDL, milliseconds; default 30000. */
    readonly writeTimeoutMs: number;
    /** request_timeout_ms: time to receive a whole request, milliseconds; default 60000. */
    readonly requestTimeoutMs: number;
    /** headers_timeout_ms: time to receive the request headers, milliseconds; default 10000. */
    readonly headersTimeoutMs: number;
    /** body_max_depth: deepest nesting of a JSON body, levels; default 64. */
    readonly bodyMaxDepth: number;
  };
  /** Access control (tokens_file, rate_limit_redis); both null when off. */
  readonly access: {
    /** tokens_file: path of the tokens file; null: access control off. */
    readonly tokensFile: string | null;
    /** rate_limit_redis: redis:// URL shared by all processes for limits; null: limits per process. */
    readonly rateLimitRedis: string | null;
  };
  /** tls_cert + tls_key: PEM files to serve HTTPS; null serves plain HTTP. */
  readonly tls: { readonly certFile: string; readonly keyFile: string } | null;
  /** reader_username + reader_password: MySQL user of read-only sessions on every shard; null uses each shard's own user. */
  readonly reader: { readonly user: string; readonly password: string } | null;
  /** osquery's TLS enroll/log API: on when an enroll secret (or a file holding one) is given. */
  readonly osquery: {
    /** osquery_enroll_secret: the shared secret nodes enroll with; null when not given. */
    readonly enrollSecret: string | null;
    /** osquery_enroll_secret_file: file holding the secret (read at start, surrounding whitespace trimmed); null when not given. */
    readonly enrollSecretFile: string | null;
  };
}

/**
 * Thrown by {@link loadConfig} when `-h`, `-help` or `--help` is given, even
 * alongside other problems: `main.ts` prints {@link helpText} and exits 0.
 */
export class HelpRequested extends Error {
  constructor() {
    super('help requested: print helpText() and exit 0');
    this.name = 'HelpRequested';
  }
}

type FlagKind = 'string' | 'int' | 'bool';

interface FlagSpec {
  /** snake_case flag name; the env var is DATABALANCER_<NAME upper case>. */
  readonly name: string;
  readonly kind: FlagKind;
  /** The default as text (what the flag would have to say to mean the default). */
  readonly defaultValue: string;
  /** One-line meaning for --help. */
  readonly usage: string;
  /** For int flags: the smallest accepted value (1 unless stated). */
  readonly min?: number;
  /** For int flags: the largest accepted value. */
  readonly max?: number;
  /** For int flags: the unit, named in problems. */
  readonly unit?: string;
}

/** Prefix of every configuration environment variable. */
export const ENV_PREFIX = 'DATABALANCER_';

/** Log levels pino accepts. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const MAX_PORT = 65535;

/** Every flag, in --help order. Each line: name, kind, default, meaning (unit and default in the text). */
const FLAGS: readonly FlagSpec[] = [
  // host:port of the only server when --shards is absent; default localhost:3306
  { name: 'mysql_address', kind: 'string', defaultValue: 'localhost:3306', usage: 'The MySQL server address (host:port) used when -shards is not given' },
  // MySQL user for servers given without credentials; default root
  { name: 'mysql_username', kind: 'string', defaultValue: 'root', usage: 'The MySQL user for servers given without credentials' },
  // its password; default empty
  { name: 'mysql_password', kind: 'string', defaultValue: '', usage: 'The MySQL password for servers given without credentials' },
  // database for servers given without one; default databalancer
  { name: 'mysql_database', kind: 'string', defaultValue: 'databalancer', usage: 'The MySQL database for servers given without one; created if missing' },
  // HTTP listen address [host]:port; default :8080 (all interfaces)
  { name: 'server_address', kind: 'string', defaultValue: ':8080', usage: 'The HTTP listen address, [host]:port' },
  // comma-separated shard list; default none (one shard from the mysql_* flags)
  { name: 'shards', kind: 'string', defaultValue: '', usage: 'Comma-separated shards, each host[:port] or mysql://user:pass@host:port/db, optionally prefixed name= (names are stable shard ids); default one shard from -mysql_address' },
  // shard id or separate server for the catalog; default the first shard
  { name: 'catalog', kind: 'string', defaultValue: '', usage: 'Where the catalog lives: a shard id, or host:port / mysql://... of a separate server; default the first shard' },
  // pino level; default info
  { name: 'log_level', kind: 'string', defaultValue: 'info', usage: `Log level: ${LOG_LEVELS.join('|')} (also env LOG_LEVEL)` },
  // bytes; default 16 MiB
  { name: 'body_limit_bytes', kind: 'int', defaultValue: String(16 * 1024 * 1024), usage: 'Largest accepted request body, in bytes', unit: 'bytes' },
  // columns; default 1000; at most 1010 because InnoDB allows 1017 columns per table and id plus internal columns need a few
  { name: 'max_columns', kind: 'int', defaultValue: '1000', usage: 'Most columns a family table may have (at most 1010: InnoDB allows 1017 per table)', unit: 'columns', max: 1010 },
  // milliseconds; default 10000
  { name: 'query_timeout_ms', kind: 'int', defaultValue: '10000', usage: 'Time limit of a read query, in milliseconds', unit: 'milliseconds' },
  // rows; default 10000
  { name: 'query_max_rows', kind: 'int', defaultValue: '10000', usage: 'Most rows a query returns; more answers truncated: true', unit: 'rows' },
  // rows; default 1000000
  { name: 'federation_max_rows', kind: 'int', defaultValue: '1000000', usage: 'Most rows a cross-shard query may move between shards', unit: 'rows' },
  // seconds; default 86400 (24 hours)
  { name: 'idempotency_ttl_seconds', kind: 'int', defaultValue: '86400', usage: 'How long an Idempotency-Key is remembered, in seconds', unit: 'seconds' },
  // connections per shard; default 10
  { name: 'pool_max', kind: 'int', defaultValue: '10', usage: 'Connections per shard pool', unit: 'connections' },
  // gateway processes sharing the listen port (node:cluster); default 1
  { name: 'workers', kind: 'int', defaultValue: '1', usage: 'Gateway worker processes sharing the listen port (node:cluster); each has its own pools', unit: 'processes', max: 256 },
  { name: 'heap_growing_percent', kind: 'int', defaultValue: '50', usage: 'How far the JS heap may grow past what was live at the last full garbage collection before the next one (bounds peak memory); 0 leaves it to V8 (up to 300%)', unit: 'percent', min: 0, max: 1000 },
  // virtual nodes per shard; default 160
  { name: 'ring_vnodes', kind: 'int', defaultValue: '160', usage: 'Virtual nodes per shard on the consistent-hash ring (changing it changes where new families go)', unit: 'virtual nodes', max: 100_000 },
  // boolean; default true
  { name: 'raw_logs', kind: 'bool', defaultValue: 'true', usage: 'Keep the lossless raw_logs copy of every event' },
  // duration (7d, 12h, 30m, 3600s, 3600); default none (keep forever)
  { name: 'default_retention', kind: 'string', defaultValue: '', usage: 'Retention given to a family when it is created (families that already exist keep theirs; PUT /api/families/<family>/retention changes one): a duration like 7d, 12h, 30m, 3600s or 3600 (seconds); empty keeps events forever' },
  // seconds; default 60; 0 disables the purger
  { name: 'purge_interval_seconds', kind: 'int', defaultValue: '60', usage: 'Seconds between retention purges; 0 disables the purger', unit: 'seconds', min: 0 },
  // rows per delete; default 5000
  { name: 'purge_batch_size', kind: 'int', defaultValue: '5000', usage: 'Events (family rows and their raw copies) deleted per purge transaction', unit: 'rows' },
  // rows per batch; default 5000
  { name: 'move_batch_rows', kind: 'int', defaultValue: '5000', usage: 'Rows a family move copies and verifies per batch', unit: 'rows', max: 1_000_000 },
  // rows per second; default 50000; 0: uncapped
  { name: 'move_rows_per_second', kind: 'int', defaultValue: '50000', usage: 'Most rows per second a family move copies (bounds its load on the source); 0 copies as fast as the shards go', unit: 'rows per second', min: 0 },
  // seconds; default 0
  { name: 'move_source_grace_seconds', kind: 'int', defaultValue: '0', usage: 'Seconds a moved family\'s old table is kept, renamed, on its source before it is dropped', unit: 'seconds', min: 0 },
  // seconds; default 15
  { name: 'move_lease_seconds', kind: 'int', defaultValue: '15', usage: 'Lease of the process driving a family move: another process resumes the move this long after that process dies', unit: 'seconds', max: 3600 },
  // boolean; default true
  { name: 'graphql_introspection', kind: 'bool', defaultValue: 'true', usage: 'Allow GraphQL schema introspection' },
  // sandbox|graphiql|off; default sandbox (graphiql when NODE_ENV=production)
  { name: 'graphql_explorer', kind: 'string', defaultValue: '', usage: 'Page GET /graphql serves to browsers: sandbox (Apollo Sandbox, needs internet), graphiql (offline, from this package) or off; default sandbox, graphiql when NODE_ENV=production' },
  // levels; default 12
  { name: 'graphql_max_depth', kind: 'int', defaultValue: '12', usage: 'Deepest allowed GraphQL selection, in levels', unit: 'levels' },
  // cost units; default 50000 (five rawQuery of query_max_rows=10000)
  { name: 'graphql_max_cost', kind: 'int', defaultValue: '50000', usage: 'Most cost a GraphQL operation may have: each field 1, lists times their factor, rawQuery and rows the rows they can return (5 rawQuery at the default query_max_rows)', unit: 'cost units' },
  // SQL statements per GraphQL operation; default 10
  { name: 'graphql_max_statements', kind: 'int', defaultValue: '10', usage: 'Most SQL statements one GraphQL operation may run (rawQuery, rows, ...)', unit: 'statements', max: 10_000 },
  // bytes of one query result; default 8 MiB
  { name: 'query_max_bytes', kind: 'int', defaultValue: String(8 * 1024 * 1024), usage: 'Most bytes of rows a query returns; more answers truncated: true with the rows that fit', unit: 'bytes' },
  // characters of SQL text; default 100000
  { name: 'query_max_length', kind: 'int', defaultValue: '100000', usage: 'Longest accepted SQL text, in characters', unit: 'characters', max: 10_000_000 },
  // SQL tokens; default 5000
  { name: 'query_max_tokens', kind: 'int', defaultValue: '5000', usage: 'Most SQL tokens (words, numbers, operators) a query may have before it is parsed', unit: 'tokens', max: 1_000_000 },
  // concurrent cross-shard queries per process; default 4
  { name: 'federation_max_concurrent', kind: 'int', defaultValue: '4', usage: 'Most cross-shard queries one gateway process runs at once; more wait briefly, then get 503 with Retry-After', unit: 'queries', max: 1000 },
  // milliseconds; default 30000
  { name: 'write_timeout_ms', kind: 'int', defaultValue: '30000', usage: 'Client-side deadline of an ingest write or DDL on a shard, in milliseconds; past it, 503', unit: 'milliseconds' },
  // milliseconds; default 60000
  { name: 'request_timeout_ms', kind: 'int', defaultValue: '60000', usage: 'Longest time a client may take to send a whole request, in milliseconds (Node requestTimeout)', unit: 'milliseconds' },
  // milliseconds; default 10000
  { name: 'headers_timeout_ms', kind: 'int', defaultValue: '10000', usage: 'Longest time a client may take to send the request headers, in milliseconds (Node headersTimeout)', unit: 'milliseconds' },
  // nesting levels of a JSON request body; default 64
  { name: 'body_max_depth', kind: 'int', defaultValue: '64', usage: 'Deepest nesting of arrays and objects a JSON request body may have', unit: 'levels', max: 10_000 },
  // path; default none (access control off)
  { name: 'tokens_file', kind: 'string', defaultValue: '', usage: 'JSON file of access tokens (scopes, family patterns, limits); empty turns access control off' },
  // redis://host:port; default none (limits per process)
  { name: 'rate_limit_redis', kind: 'string', defaultValue: '', usage: 'redis://host:port shared by every gateway process for per-token limits; empty keeps limits per process' },
  // path; default none (plain HTTP)
  { name: 'tls_cert', kind: 'string', defaultValue: '', usage: 'PEM certificate file: serve HTTPS (with -tls_key); empty serves plain HTTP' },
  // path; default none
  { name: 'tls_key', kind: 'string', defaultValue: '', usage: 'PEM private key file of -tls_cert' },
  // MySQL user of read-only sessions; default none (the shard's user)
  { name: 'reader_username', kind: 'string', defaultValue: '', usage: 'MySQL user for users\' read-only queries, one that cannot write; empty uses each shard\'s own user' },
  // its password; default empty
  { name: 'reader_password', kind: 'string', defaultValue: '', usage: 'Password of -reader_username' },
  // osquery's TLS remote API (POST /api/osquery/enroll and /api/osquery/log).
  { name: 'osquery_enroll_secret', kind: 'string', defaultValue: '', usage: 'Shared secret osqueryd nodes enroll with (--enroll_secret_path on the node); empty with no -osquery_enroll_secret_file: enrollment refused' },
  { name: 'osquery_enroll_secret_file', kind: 'string', defaultValue: '', usage: 'File holding -osquery_enroll_secret (read at start)' },
];

const FLAG_BY_NAME: ReadonlyMap<string, FlagSpec> = new Map(FLAGS.map((f) => [f.name, f]));

const HELP_NAMES = new Set(['h', 'help']);

/** Name given after `name=` in --shards: 1-64 of [A-Za-z0-9_.-]. */
const SHARD_NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** The env var name of a flag, e.g. `mysql_address` -> `DATABALANCER_MYSQL_ADDRESS`. */
export function envNameOf(flag: string): string {
  return ENV_PREFIX + flag.toUpperCase();
}

/** A raw value and where it came from (`--pool_max`, `DATABALANCER_POOL_MAX`, ...), for problem messages. */
interface RawValue {
  readonly value: string;
  readonly source: string;
}

interface ArgvResult {
  readonly values: Map<string, RawValue>;
  readonly help: boolean;
}

/**
 * Loads the configuration from `argv` (the arguments after the script, i.e.
 * `process.argv.slice(2)`) and `env` (e.g. `process.env`).
 *
 * Flags: `--name=value`, `--name value`, `-name=value`, `-name value`; the
 * kebab-case spelling (`--mysql-address`) is accepted too. Boolean flags may
 * be bare (`--raw_logs`) or take `=true|false|1|0`. Each flag may also come
 * from `DATABALANCER_<NAME>`; a flag given on the command line wins. An empty
 * env var counts as unset. `LOG_LEVEL` is a fallback for log_level, and
 * `NODE_ENV=production` sets `production`.
 *
 * @returns the deep-frozen Config.
 * @throws HelpRequested when -h/-help/--help is among the arguments.
 * @throws AppError `CONFIG_INVALID` listing every problem found (one per
 *   line in the message, and as `details.problems: string[]`).
 */
export function loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Config {
  const problems: string[] = [];
  const parsed = parseArgv(argv, problems);
  if (parsed.help) throw new HelpRequested();

  const values = parsed.values;
  for (const spec of FLAGS) {
    if (values.has(spec.name)) continue;
    const envName = envNameOf(spec.name);
    const fromEnv = env[envName];
    if (fromEnv !== undefined && fromEnv !== '') values.set(spec.name, { value: fromEnv, source: envName });
  }
  const logLevelEnv = env['LOG_LEVEL'];
  if (!values.has('log_level') && logLevelEnv !== undefined && logLevelEnv !== '') {
    values.set('log_level', { value: logLevelEnv, source: 'LOG_LEVEL' });
  }
  for (const key of Object.keys(env).sort()) {
    if (!key.startsWith(ENV_PREFIX)) continue;
    const flag = key.slice(ENV_PREFIX.length).toLowerCase();
    if (!FLAG_BY_NAME.has(flag)) {
      problems.push(`unknown environment variable ${key}${suggestion(flag, (n) => envNameOf(n))}; unset it (each flag X is also env ${ENV_PREFIX}X)`);
    }
  }

  const reader = new ValueReader(values, problems);
  const mysqlAddress = reader.string('mysql_address');
  const mysqlUsername = reader.string('mysql_username');
  const mysqlPassword = reader.string('mysql_password');
  const mysqlDatabase = reader.string('mysql_database');
  const serverAddress = reader.string('server_address');

  if (mysqlUsername === '') problems.push(`${reader.sourceOf('mysql_username')} must not be empty; give the MySQL user, e.g. --mysql_username=root`);
  const databaseProblem = checkDatabaseName(mysqlDatabase);
  if (databaseProblem !== undefined) problems.push(`${reader.sourceOf('mysql_database')}="${mysqlDatabase}": ${databaseProblem}`);

  const defaults: ShardDefaults = { user: mysqlUsername, password: mysqlPassword, database: mysqlDatabase };

  const mysqlEndpoint = parseHostPort(mysqlAddress, 3306);
  if (typeof mysqlEndpoint === 'string') {
    problems.push(`${reader.sourceOf('mysql_address')}="${mysqlAddress}": ${mysqlEndpoint}; use host:port, e.g. localhost:3306`);
  }

  const server = parseListenAddress(serverAddress);
  if (typeof server === 'string') {
    problems.push(`${reader.sourceOf('server_address')}="${serverAddress}": ${server}; use [host]:port, e.g. :8080 or 127.0.0.1:8080`);
  }

  // Shards: the list, or one shard from the mysql_* flags.
  const shardsText = reader.string('shards');
  let shards: ShardConfig[] = [];
  let shardsOk = true;
  if (shardsText.trim() !== '') {
    const shardProblems: string[] = [];
    shards = parseShardList(shardsText, defaults, reader.sourceOf('shards'), shardProblems);
    shardsOk = shardProblems.length === 0;
    problems.push(...shardProblems);
  } else if (typeof mysqlEndpoint !== 'string') {
    shards = [makeShard(undefined, mysqlEndpoint.host, mysqlEndpoint.port, defaults.user, defaults.password, defaults.database)];
  } else {
    shardsOk = false;
  }

  // Catalog: a shard id, or a separate server.
  const catalogText = reader.string('catalog').trim();
  let catalog: ShardConfig | undefined = shards[0];
  if (catalogText !== '') {
    const result = resolveCatalog(catalogText, shards, shardsOk, defaults);
    if (typeof result === 'string') {
      problems.push(`${reader.sourceOf('catalog')}="${redactUrl(catalogText)}": ${result}`);
    } else {
      catalog = result;
    }
  }

  const levelText = reader.string('log_level').trim().toLowerCase();
  const logLevel = (LOG_LEVELS as readonly string[]).includes(levelText) ? levelText : 'info';
  if (logLevel !== levelText) {
    problems.push(`${reader.sourceOf('log_level')}="${reader.string('log_level')}" is not a log level; use one of ${LOG_LEVELS.join(', ')}`);
  }

  const retentionText = reader.string('default_retention').trim();
  let defaultRetention: number | null = null;
  if (retentionText !== '') {
    const seconds = parseDurationSeconds(retentionText);
    if (seconds === undefined) {
      problems.push(`${reader.sourceOf('default_retention')}="${retentionText}" is not a positive duration; use e.g. 7d, 12h, 30m, 3600s or 3600 (seconds), or leave it empty to keep events forever`);
    } else {
      defaultRetention = seconds;
    }
  }

  const purgeIntervalSeconds = reader.int('purge_interval_seconds');

  const tlsCert = optionalText(reader.string('tls_cert'));
  const tlsKey = optionalText(reader.string('tls_key'));
  if ((tlsCert === null) !== (tlsKey === null)) {
    problems.push(`${reader.sourceOf(tlsCert === null ? 'tls_cert' : 'tls_key')} is missing: HTTPS needs both --tls_cert and --tls_key (PEM files), or neither for plain HTTP`);
  }
  const tls = tlsCert !== null && tlsKey !== null ? { certFile: tlsCert, keyFile: tlsKey } : null;
  const readerUser = optionalText(reader.string('reader_username'));
  const rateLimitRedis = optionalText(reader.string('rate_limit_redis'));
  if (rateLimitRedis !== null && !/^rediss?:\/\/[^\s]+$/.test(rateLimitRedis)) {
    problems.push(`${reader.sourceOf('rate_limit_redis')}="${redactUrl(rateLimitRedis)}" is not a redis:// URL; use e.g. redis://127.0.0.1:6379`);
  }
  const enrollSecret = optionalText(reader.string('osquery_enroll_secret'));
  const enrollSecretFile = optionalText(reader.string('osquery_enroll_secret_file'));
  if (enrollSecret !== null && enrollSecretFile !== null) {
    problems.push(`${reader.sourceOf('osquery_enroll_secret')} and ${reader.sourceOf('osquery_enroll_secret_file')} are both set; give the osquery enroll secret one way`);
  }
  const production = env['NODE_ENV'] === 'production';
  const explorerText = reader.string('graphql_explorer').trim().toLowerCase();
  let explorer: Config['graphql']['explorer'] = production ? 'graphiql' : 'sandbox';
  if (explorerText === 'sandbox' || explorerText === 'graphiql' || explorerText === 'off') explorer = explorerText;
  else if (explorerText !== '') {
    problems.push(`${reader.sourceOf('graphql_explorer')}="${reader.string('graphql_explorer')}" is not an explorer; use sandbox, graphiql or off`);
  }

  const config: Config = {
    mysqlAddress,
    mysqlUsername,
    mysqlPassword,
    mysqlDatabase,
    server: typeof server === 'string' ? { host: '0.0.0.0', port: 8080, address: serverAddress } : { ...server, address: serverAddress },
    shards,
    // Only undefined when there are problems, in which case we throw below.
    catalog: catalog ?? makeShard(undefined, 'localhost', 3306, defaults.user, defaults.password, defaults.database),
    logLevel,
    production,
    bodyLimitBytes: reader.int('body_limit_bytes'),
    maxColumns: reader.int('max_columns'),
    queryTimeoutMs: reader.int('query_timeout_ms'),
    queryMaxRows: reader.int('query_max_rows'),
    federationMaxRows: reader.int('federation_max_rows'),
    idempotencyTtlSeconds: reader.int('idempotency_ttl_seconds'),
    poolMax: reader.int('pool_max'),
    workers: reader.int('workers'),
    heapGrowingPercent: reader.int('heap_growing_percent'),
    ringVnodes: reader.int('ring_vnodes'),
    rawLogs: reader.bool('raw_logs'),
    retention: {
      defaultSeconds: defaultRetention,
      purgeIntervalSeconds,
      purgeBatchSize: reader.int('purge_batch_size'),
      purgerEnabled: purgeIntervalSeconds > 0,
    },
    moves: {
      batchRows: reader.int('move_batch_rows'),
      rowsPerSecond: reader.int('move_rows_per_second'),
      sourceGraceSeconds: reader.int('move_source_grace_seconds'),
      leaseSeconds: reader.int('move_lease_seconds'),
    },
    graphql: {
      introspection: reader.bool('graphql_introspection'),
      explorer,
      maxDepth: reader.int('graphql_max_depth'),
      maxCost: reader.int('graphql_max_cost'),
      maxStatements: reader.int('graphql_max_statements'),
    },
    limits: {
      queryMaxBytes: reader.int('query_max_bytes'),
      queryMaxLength: reader.int('query_max_length'),
      queryMaxTokens: reader.int('query_max_tokens'),
      federationMaxConcurrent: reader.int('federation_max_concurrent'),
      writeTimeoutMs: reader.int('write_timeout_ms'),
      requestTimeoutMs: reader.int('request_timeout_ms'),
      headersTimeoutMs: reader.int('headers_timeout_ms'),
      bodyMaxDepth: reader.int('body_max_depth'),
    },
    access: {
      tokensFile: optionalText(reader.string('tokens_file')),
      rateLimitRedis: optionalText(reader.string('rate_limit_redis')),
    },
    tls,
    reader: readerUser === null ? null : { user: readerUser, password: reader.string('reader_password') },
    osquery: { enrollSecret, enrollSecretFile },
  };

  if (problems.length > 0) {
    const noun = problems.length === 1 ? 'problem' : 'problems';
    throw new AppError(
      'CONFIG_INVALID',
      `invalid configuration (${problems.length} ${noun}; run with --help to list every flag):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      { problems },
    );
  }
  return deepFreeze(config);
}

/** Trimmed text, or null when empty. */
function optionalText(text: string): string | null {
  const trimmed = text.trim();
  return trimmed === '' ? null : trimmed;
}

/**
 * The `--help` text, in the style of Go's flag package: a usage line, then
 * each flag as `  -name type` and an indented `\t` line with its meaning,
 * default and environment variable.
 */
export function helpText(): string {
  const lines = [
    'Usage: databalancer [flags]',
    '',
    'Flags may be written -name=value, -name value, --name=value or --name value;',
    'kebab-case names (--mysql-address) work too. Boolean flags may be bare (-raw_logs)',
    'or -name=false. Every flag can also be set by the environment variable shown;',
    'a flag on the command line wins over the environment. Through npm, use the',
    'double-dash forms after --, e.g. npm start -- --help (npm warns about -name).',
    '',
  ];
  for (const spec of FLAGS) {
    const typeName = spec.kind === 'bool' ? '' : ` ${spec.kind === 'int' ? 'int' : 'string'}`;
    let shownDefault = '';
    if (spec.defaultValue !== '') {
      shownDefault = spec.kind === 'string' ? ` (default "${spec.defaultValue}")` : ` (default ${spec.defaultValue})`;
    }
    lines.push(`  -${spec.name}${typeName}`);
    lines.push(`    \t${spec.usage}${shownDefault} [env ${envNameOf(spec.name)}]`);
  }
  lines.push('  -help');
  lines.push('    \tPrint this help and exit (also -h, --help)');
  return `${lines.join('\n')}\n`;
}

/**
 * Parses a retention duration into whole seconds: `3600` (seconds) or one or
 * more `<digits><unit>` parts with units s, m, h, d, w (`7d`, `12h`, `1d12h`,
 * `3600s`). Case-insensitive; surrounding spaces ignored.
 *
 * @returns the number of seconds (> 0), or undefined when `text` is not a
 *   positive duration.
 * @example parseDurationSeconds('7d') === 604800; parseDurationSeconds('0') === undefined
 */
export function parseDurationSeconds(text: string): number | undefined {
  const trimmed = text.trim().toLowerCase();
  let seconds: number;
  if (/^\d+$/.test(trimmed)) {
    seconds = Number(trimmed);
  } else if (/^(?:\d+[smhdw])+$/.test(trimmed)) {
    const unitSeconds: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
    seconds = 0;
    for (const match of trimmed.matchAll(/(\d+)([smhdw])/g)) {
      seconds += Number(match[1]) * (unitSeconds[match[2] ?? 's'] ?? 1);
    }
  } else {
    return undefined;
  }
  return Number.isSafeInteger(seconds) && seconds > 0 ? seconds : undefined;
}

// ---------------------------------------------------------------------------
// argv

function parseArgv(argv: readonly string[], problems: string[]): ArgvResult {
  const values = new Map<string, RawValue>();
  let help = false;
  let lastBareBool: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] ?? '';
    const previousBareBool = lastBareBool;
    lastBareBool = undefined;
    if (token === '--') {
      const rest = argv.slice(i + 1);
      if (rest.length > 0) problems.push(`unexpected arguments after "--": ${rest.map((r) => `"${r}"`).join(' ')}; databalancer takes only flags`);
      break;
    }
    if (!token.startsWith('-') || token === '-') {
      if (previousBareBool !== undefined && /^(true|false|t|f|1|0|yes|no|on|off)$/i.test(token)) {
        problems.push(`unexpected argument "${token}" after boolean flag ${previousBareBool}; write ${previousBareBool}=${token} instead`);
      } else {
        problems.push(`unexpected argument "${token}"; databalancer takes only flags like --name=value`);
      }
      continue;
    }
    const dashes = token.startsWith('--') ? '--' : '-';
    const body = token.slice(dashes.length);
    const eq = body.indexOf('=');
    const rawName = eq >= 0 ? body.slice(0, eq) : body;
    const inline = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (rawName === '' || rawName.startsWith('-')) {
      problems.push(`bad flag syntax "${token}"; write --name=value`);
      continue;
    }
    const name = rawName.replace(/-/g, '_');
    const shown = `${dashes}${rawName}`;

    if (HELP_NAMES.has(name)) {
      if (inline === undefined || parseBool(inline) !== false) help = true;
      continue;
    }
    const spec = FLAG_BY_NAME.get(name);
    if (spec === undefined) {
      problems.push(`unknown flag ${shown}${suggestion(name, (n) => `--${n}`)}`);
      // Skip its probable value so that it is not reported a second time.
      const next = argv[i + 1];
      if (inline === undefined && next !== undefined && !next.startsWith('-')) i++;
      continue;
    }
    let value: string;
    if (inline !== undefined) {
      value = inline;
    } else if (spec.kind === 'bool') {
      value = 'true';
      lastBareBool = shown;
    } else {
      const next = argv[i + 1];
      if (next === undefined) {
        problems.push(`flag ${shown} needs a value, e.g. ${shown}=${spec.defaultValue === '' ? '...' : spec.defaultValue}`);
        continue;
      }
      value = next;
      i++;
    }
    // Like Go's flag package, a repeated flag keeps its last value.
    values.set(spec.name, { value, source: shown });
  }
  return { values, help };
}

/** Go's strconv.ParseBool spellings plus yes/no/on/off. */
function parseBool(text: string): boolean | undefined {
  const t = text.trim().toLowerCase();
  if (['1', 't', 'true', 'yes', 'y', 'on'].includes(t)) return true;
  if (['0', 'f', 'false', 'no', 'n', 'off'].includes(t)) return false;
  return undefined;
}

/** "; did you mean X?" for the closest flag name, or "" when none is close. */
function suggestion(name: string, render: (flag: string) => string): string {
  const target = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const spec of FLAGS) {
    const d = editDistance(target, spec.name);
    if (d < bestDistance) {
      bestDistance = d;
      best = spec.name;
    }
  }
  const limit = Math.max(2, Math.floor(target.length / 4));
  return best !== undefined && bestDistance <= limit ? `; did you mean ${render(best)}?` : '';
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** Reads typed values, falling back to defaults and recording problems. */
class ValueReader {
  constructor(
    private readonly values: ReadonlyMap<string, RawValue>,
    private readonly problems: string[],
  ) {}

  sourceOf(name: string): string {
    return this.values.get(name)?.source ?? `--${name}`;
  }

  string(name: string): string {
    return this.values.get(name)?.value ?? this.spec(name).defaultValue;
  }

  int(name: string): number {
    const spec = this.spec(name);
    const fallback = Number(spec.defaultValue);
    const raw = this.values.get(name);
    if (raw === undefined) return fallback;
    const min = spec.min ?? 1;
    const max = spec.max ?? Number.MAX_SAFE_INTEGER;
    const text = raw.value.trim();
    const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    const kind = min === 0 ? 'a non-negative integer' : 'a positive integer';
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      const range = spec.max !== undefined ? ` from ${min} to ${max}` : '';
      this.problems.push(`${raw.source}="${raw.value}" must be ${kind}${range} (${spec.unit ?? 'count'}, default ${spec.defaultValue})`);
      return fallback;
    }
    return n;
  }

  bool(name: string): boolean {
    const spec = this.spec(name);
    const fallback = spec.defaultValue === 'true';
    const raw = this.values.get(name);
    if (raw === undefined) return fallback;
    const b = parseBool(raw.value);
    if (b === undefined) {
      this.problems.push(`${raw.source}="${raw.value}" is not a boolean; use true or false (default ${spec.defaultValue})`);
      return fallback;
    }
    return b;
  }

  private spec(name: string): FlagSpec {
    const spec = FLAG_BY_NAME.get(name);
    if (spec === undefined) throw new Error(`config: no flag named ${name}`); // programming error
    return spec;
  }
}

// ---------------------------------------------------------------------------
// addresses and shards

interface Endpoint {
  readonly host: string;
  readonly port: number;
}

interface ShardDefaults {
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

/** Parses `host`, `host:port`, `[v6]` or `[v6]:port`. Returns a problem string on failure. */
function parseHostPort(text: string, defaultPort: number, minPort = 1): Endpoint | string {
  const t = text.trim();
  if (t === '') return 'the address is empty';
  let host: string;
  let portText: string | undefined;
  if (t.startsWith('[')) {
    const close = t.indexOf(']');
    if (close < 0) return 'IPv6 address is missing its closing "]"';
    host = t.slice(1, close);
    const rest = t.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return `unexpected "${rest}" after "]"`;
      portText = rest.slice(1);
    }
    if (!/^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$/.test(host) || !host.includes(':')) return `"${host}" is not an IPv6 address`;
  } else {
    const colons = t.split(':').length - 1;
    if (colons > 1) return 'an IPv6 address must be written in brackets, e.g. [::1]:3306';
    const colon = t.indexOf(':');
    host = colon >= 0 ? t.slice(0, colon) : t;
    portText = colon >= 0 ? t.slice(colon + 1) : undefined;
    if (host === '') return 'the host is empty';
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(host)) return `"${host}" is not a valid host name`;
  }
  const port = portText === undefined ? defaultPort : parsePort(portText, minPort);
  if (typeof port === 'string') return port;
  return { host, port };
}

/** `min` is 1 for servers we connect to, 0 for the listen address (0 = any free port). */
function parsePort(text: string, min = 1): number | string {
  if (text === '') return 'the port is empty';
  if (!/^\d+$/.test(text)) return `port "${text}" is not a number`;
  const port = Number(text);
  if (port < min || port > MAX_PORT) return `port ${text} is out of range ${min}-${MAX_PORT}`;
  return port;
}

/** `:8080`, `8080`, `host:8080`, `[::]:8080`. An empty host means all interfaces (0.0.0.0). */
function parseListenAddress(text: string): Endpoint | string {
  const t = text.trim();
  if (/^\d+$/.test(t)) {
    const port = parsePort(t, 0);
    return typeof port === 'string' ? port : { host: '0.0.0.0', port };
  }
  if (t.startsWith(':')) {
    const port = parsePort(t.slice(1), 0);
    return typeof port === 'string' ? port : { host: '0.0.0.0', port };
  }
  const hasPort = t.startsWith('[') ? /\]:/.test(t) : t.includes(':');
  if (!hasPort) return 'the port is missing';
  return parseHostPort(t, 0, 0);
}

/** Rules MySQL puts on a database name (a quoted identifier): 1-64 characters, no NUL, no trailing space. */
function checkDatabaseName(name: string): string | undefined {
  if (name === '') return 'the database name is empty';
  if ([...name].length > 64) return 'a database name has at most 64 characters';
  if (name.includes('\0')) return 'a database name cannot contain NUL';
  if (name.endsWith(' ')) return 'a database name cannot end with a space';
  if (name.includes('/') || name.includes('\\') || name.includes('.')) return 'a database name cannot contain "/", "\\" or "."';
  return undefined;
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function addressKey(s: Pick<ShardConfig, 'host' | 'port' | 'database'>): string {
  return `${formatHost(s.host.toLowerCase())}:${s.port}/${s.database}`;
}

function makeShard(id: string | undefined, host: string, port: number, user: string, password: string, database: string): ShardConfig {
  return { id: id ?? `${formatHost(host)}:${port}/${database}`, host, port, user, password, database, named: id !== undefined };
}

/** Parses `host[:port]` or `mysql://[user[:pass]@]host[:port][/db]` (without a name= prefix). */
function parseServerSpec(text: string, defaults: ShardDefaults, id: string | undefined): ShardConfig | string {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text);
  if (scheme === null) {
    if (text.includes('@') || text.includes('/')) return 'credentials or a database need the URL form mysql://user:pass@host:port/db';
    const endpoint = parseHostPort(text, 3306);
    if (typeof endpoint === 'string') return endpoint;
    return makeShard(id, endpoint.host, endpoint.port, defaults.user, defaults.password, defaults.database);
  }
  const schemeName = (scheme[1] ?? '').toLowerCase();
  if (schemeName !== 'mysql' && schemeName !== 'mariadb') return `unsupported scheme "${scheme[1] ?? ''}://"; use mysql://`;
  let rest = text.slice(scheme[0].length);
  let user = defaults.user;
  let password = defaults.password;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const userInfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = userInfo.indexOf(':');
    const userText = colon >= 0 ? userInfo.slice(0, colon) : userInfo;
    const passText = colon >= 0 ? userInfo.slice(colon + 1) : undefined;
    const decodedUser = decode(userText);
    const decodedPass = passText === undefined ? password : decode(passText);
    if (decodedUser === undefined || decodedPass === undefined) return 'user or password has a malformed %-escape; encode "%" as %25';
    if (decodedUser !== '') user = decodedUser;
    password = decodedPass;
  }
  if (rest.includes('?') || rest.includes('#')) return 'URL parameters (?...) are not supported; give only mysql://user:pass@host:port/db';
  const slash = rest.indexOf('/');
  const hostText = slash >= 0 ? rest.slice(0, slash) : rest;
  const pathText = slash >= 0 ? rest.slice(slash + 1) : '';
  const endpoint = parseHostPort(hostText, 3306);
  if (typeof endpoint === 'string') return endpoint;
  let database = defaults.database;
  if (pathText !== '') {
    const decoded = decode(pathText);
    if (decoded === undefined) return 'the database name has a malformed %-escape';
    database = decoded;
    const problem = checkDatabaseName(database);
    if (problem !== undefined) return problem;
  }
  return makeShard(id, endpoint.host, endpoint.port, user, password, database);
}

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** Parses the --shards list. Records problems (each naming the item) and returns the shards that parsed. */
function parseShardList(text: string, defaults: ShardDefaults, source: string, problems: string[]): ShardConfig[] {
  const shards: ShardConfig[] = [];
  const byId = new Map<string, number>();
  const byAddress = new Map<string, ShardConfig>();
  const items = text.split(',');
  items.forEach((rawItem, index) => {
    const item = rawItem.trim();
    const label = `${source} item ${index + 1}`;
    if (item === '') {
      problems.push(`${label} is empty; remove the extra comma`);
      return;
    }
    let name: string | undefined;
    let spec = item;
    const eq = item.indexOf('=');
    const schemeAt = item.indexOf('://');
    if (eq >= 0 && (schemeAt < 0 || eq < schemeAt)) {
      name = item.slice(0, eq).trim();
      spec = item.slice(eq + 1).trim();
      if (!SHARD_NAME_RE.test(name)) {
        problems.push(`${label} ("${item}"): shard name "${name}" is invalid; use 1-64 of A-Z a-z 0-9 _ . -`);
        return;
      }
      if (spec === '') {
        problems.push(`${label} ("${item}"): shard "${name}" has no address; write ${name}=host:port`);
        return;
      }
    }
    const shard = parseServerSpec(spec, defaults, name);
    if (typeof shard === 'string') {
      problems.push(`${label} ("${redactUrl(item)}"): ${shard}`);
      return;
    }
    const previousIndex = byId.get(shard.id);
    if (previousIndex !== undefined) {
      problems.push(`${label}: shard id "${shard.id}" is already used by item ${previousIndex + 1}; shard ids must be unique`);
      return;
    }
    const key = addressKey(shard);
    const same = byAddress.get(key);
    if (same !== undefined) {
      problems.push(`${label}: shard "${shard.id}" points at ${key}, the same server and database as shard "${same.id}"; give each shard its own server or database`);
      return;
    }
    byId.set(shard.id, index);
    byAddress.set(key, shard);
    shards.push(shard);
  });
  return shards;
}

/** Hides the password of a mysql:// URL in problem messages. */
function redactUrl(text: string): string {
  return text.replace(/(:\/\/[^:@/]*:)[^@]*@/, '$1***@');
}

function resolveCatalog(text: string, shards: readonly ShardConfig[], shardsOk: boolean, defaults: ShardDefaults): ShardConfig | string {
  const byId = shards.find((s) => s.id === text);
  if (byId !== undefined) return byId;
  const looksLikeAddress = text.includes(':') || text.includes('/');
  if (!looksLikeAddress) {
    if (!shardsOk) return 'is not a shard id of a valid --shards list; fix --shards first';
    return `is not one of the shard ids (${shards.map((s) => `"${s.id}"`).join(', ')}); give a shard id, or host:port or mysql://user:pass@host:port/db for a separate catalog server`;
  }
  const server = parseServerSpec(text, defaults, 'catalog');
  if (typeof server === 'string') return `${server}; give a shard id, or host:port or mysql://user:pass@host:port/db`;
  // The same server and database as a shard: that shard holds the catalog.
  const same = shards.find((s) => addressKey(s) === addressKey(server));
  return same ?? server;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
