import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors/app-error.js';
import {
  HelpRequested,
  helpText,
  loadConfig,
  parseDurationSeconds,
  type Config,
} from '../../../src/config/config.js';

type Env = Record<string, string | undefined>;

function load(argv: string[] = [], env: Env = {}): Config {
  return loadConfig(argv, env);
}

/** Runs loadConfig expecting CONFIG_INVALID; returns the problems. */
function problemsOf(argv: string[], env: Env = {}): string[] {
  try {
    loadConfig(argv, env);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    const appError = error as AppError;
    expect(appError.code).toBe('CONFIG_INVALID');
    const problems = appError.details['problems'];
    expect(Array.isArray(problems)).toBe(true);
    const list = problems as string[];
    // Each problem is on its own line of the message.
    for (const p of list) expect(appError.message).toContain(`\n  - ${p}`);
    return list;
  }
  throw new Error(`expected CONFIG_INVALID for ${JSON.stringify(argv)}`);
}

function expectDeepFrozen(value: unknown, path = 'config'): void {
  if (value === null || typeof value !== 'object') return;
  expect(Object.isFrozen(value), `${path} is frozen`).toBe(true);
  for (const [key, child] of Object.entries(value)) expectDeepFrozen(child, `${path}.${key}`);
}

describe('loadConfig defaults', () => {
  it('applies every documented default', () => {
    const c = load();
    expect(c.mysqlAddress).toBe('localhost:3306');
    expect(c.mysqlUsername).toBe('root');
    expect(c.mysqlPassword).toBe('');
    expect(c.mysqlDatabase).toBe('databalancer');
    expect(c.server).toEqual({ host: '0.0.0.0', port: 8080, address: ':8080' });
    expect(c.shards).toEqual([
      { id: 'localhost:3306/databalancer', host: 'localhost', port: 3306, user: 'root', password: '', database: 'databalancer', named: false },
    ]);
    expect(c.catalog).toEqual(c.shards[0]);
    expect(c.logLevel).toBe('info');
    expect(c.production).toBe(false);
    expect(c.bodyLimitBytes).toBe(16 * 1024 * 1024);
    expect(c.maxColumns).toBe(1000);
    expect(c.queryTimeoutMs).toBe(10_000);
    expect(c.queryMaxRows).toBe(10_000);
    expect(c.federationMaxRows).toBe(1_000_000);
    expect(c.idempotencyTtlSeconds).toBe(86_400);
    expect(c.poolMax).toBe(10);
    expect(c.ringVnodes).toBe(160);
    expect(c.rawLogs).toBe(true);
    expect(c.retention).toEqual({ defaultSeconds: null, purgeIntervalSeconds: 60, purgeBatchSize: 5000, purgerEnabled: true });
    expect(c.graphql).toEqual({ introspection: true, explorer: 'sandbox', maxDepth: 12, maxCost: 50_000, maxStatements: 10 });
    expect(c.limits).toEqual({
      queryMaxBytes: 8 * 1024 * 1024,
      queryMaxLength: 100_000,
      queryMaxTokens: 5000,
      federationMaxConcurrent: 4,
      writeTimeoutMs: 30_000,
      requestTimeoutMs: 60_000,
      headersTimeoutMs: 10_000,
      bodyMaxDepth: 64,
    });
    expect(c.access).toEqual({ tokensFile: null, rateLimitRedis: null });
    expect(c.tls).toBeNull();
    expect(c.reader).toBeNull();
  });

  it('needs both TLS files or neither, and a redis:// URL for shared limits', () => {
    expect(problemsOf(['--tls_cert=/tmp/c.pem']).join('\n')).toContain('--tls_key');
    expect(problemsOf(['--tls_key=/tmp/k.pem']).join('\n')).toContain('--tls_cert');
    expect(loadConfig(['--tls_cert=/c.pem', '--tls_key=/k.pem'], {}).tls).toEqual({ certFile: '/c.pem', keyFile: '/k.pem' });
    expect(problemsOf(['--rate_limit_redis=localhost:6379']).join('\n')).toContain('redis://');
    expect(loadConfig(['--rate_limit_redis=redis://127.0.0.1:6379'], {}).access.rateLimitRedis).toBe('redis://127.0.0.1:6379');
    expect(loadConfig(['--reader_username=ro', '--reader_password=pw'], {}).reader).toEqual({ user: 'ro', password: 'pw' });
  });

  it('takes the osquery enroll secret as a flag or a file, not both', () => {
    expect(load().osquery).toEqual({ enrollSecret: null, enrollSecretFile: null });
    expect(load(['--osquery_enroll_secret=s3cret']).osquery).toEqual({ enrollSecret: 's3cret', enrollSecretFile: null });
    expect(load(['--osquery_enroll_secret_file=/etc/secret']).osquery).toEqual({ enrollSecret: null, enrollSecretFile: '/etc/secret' });
    expect(problemsOf(['--osquery_enroll_secret=a', '--osquery_enroll_secret_file=/f']).join('\n')).toContain('both set');
  });

  it('returns a deep-frozen object', () => {
    const c = load(['--shards=a=h1:1,b=h2:2', '--catalog=mysql://u:p@cat:3307/c']);
    expectDeepFrozen(c);
    expect(Object.isFrozen(c.shards)).toBe(true);
    expect(Object.isFrozen(c.shards[0])).toBe(true);
    expect(Object.isFrozen(c.catalog)).toBe(true);
    expect(Object.isFrozen(c.server)).toBe(true);
    expect(Object.isFrozen(c.retention)).toBe(true);
    expect(Object.isFrozen(c.graphql)).toBe(true);
    expect(() => {
      (c as { poolMax: number }).poolMax = 3;
    }).toThrow(TypeError);
  });
});

describe('flag spellings', () => {
  const spellings = (name: string, value: string): string[][] => {
    const kebab = name.replace(/_/g, '-');
    return [
      [`--${name}=${value}`],
      [`--${name}`, value],
      [`-${name}=${value}`],
      [`-${name}`, value],
      [`--${kebab}=${value}`],
      [`-${kebab}`, value],
    ];
  };

  const cases: [string, string, (c: Config) => unknown, unknown][] = [
    ['mysql_address', 'db.example:3307', (c) => [c.mysqlAddress, c.shards[0]?.host, c.shards[0]?.port], ['db.example:3307', 'db.example', 3307]],
    ['mysql_username', 'alice', (c) => [c.mysqlUsername, c.shards[0]?.user], ['alice', 'alice']],
    ['mysql_password', 's3cret', (c) => [c.mysqlPassword, c.shards[0]?.password], ['s3cret', 's3cret']],
    ['mysql_database', 'logs', (c) => [c.mysqlDatabase, c.shards[0]?.database, c.shards[0]?.id], ['logs', 'logs', 'localhost:3306/logs']],
    ['server_address', '127.0.0.1:9000', (c) => c.server, { host: '127.0.0.1', port: 9000, address: '127.0.0.1:9000' }],
    ['shards', 'a=h1:1,b=h2', (c) => c.shards.map((s) => s.id), ['a', 'b']],
    ['catalog', 'h9:9', (c) => [c.catalog.id, c.catalog.host, c.catalog.port], ['catalog', 'h9', 9]],
    ['log_level', 'debug', (c) => c.logLevel, 'debug'],
    ['body_limit_bytes', '1024', (c) => c.bodyLimitBytes, 1024],
    ['max_columns', '50', (c) => c.maxColumns, 50],
    ['query_timeout_ms', '2500', (c) => c.queryTimeoutMs, 2500],
    ['query_max_rows', '77', (c) => c.queryMaxRows, 77],
    ['federation_max_rows', '500', (c) => c.federationMaxRows, 500],
    ['idempotency_ttl_seconds', '60', (c) => c.idempotencyTtlSeconds, 60],
    ['pool_max', '3', (c) => c.poolMax, 3],
    ['ring_vnodes', '64', (c) => c.ringVnodes, 64],
    ['raw_logs', 'false', (c) => c.rawLogs, false],
    ['default_retention', '7d', (c) => c.retention.defaultSeconds, 7 * 86_400],
    ['purge_interval_seconds', '0', (c) => [c.retention.purgeIntervalSeconds, c.retention.purgerEnabled], [0, false]],
    ['purge_batch_size', '100', (c) => c.retention.purgeBatchSize, 100],
    ['graphql_introspection', 'false', (c) => c.graphql.introspection, false],
    ['graphql_max_depth', '5', (c) => c.graphql.maxDepth, 5],
    ['graphql_max_cost', '99', (c) => c.graphql.maxCost, 99],
  ];

  for (const [name, value, pick, expected] of cases) {
    it(`${name}: every spelling and its env var DATABALANCER_${name.toUpperCase()}`, () => {
      for (const argv of spellings(name, value)) {
        // A boolean given as a separate token is not a value (Go semantics), so skip those forms.
        if ((name === 'raw_logs' || name === 'graphql_introspection') && argv.length === 2) continue;
        expect(pick(load(argv)), argv.join(' ')).toEqual(expected);
      }
      expect(pick(load([], { [`DATABALANCER_${name.toUpperCase()}`]: value }))).toEqual(expected);
    });
  }

  it('boolean flags may be bare, and take true/false/1/0', () => {
    expect(load(['--raw_logs=false', '--raw_logs']).rawLogs).toBe(true);
    expect(load(['-raw_logs']).rawLogs).toBe(true);
    expect(load(['--raw-logs=0']).rawLogs).toBe(false);
    expect(load(['--raw_logs=false', '--raw_logs=1']).rawLogs).toBe(true);
    expect(load([], { DATABALANCER_RAW_LOGS: 'FALSE' }).rawLogs).toBe(false);
    expect(load(['--graphql_introspection=false']).graphql.introspection).toBe(false);
  });

  it('a bare boolean does not swallow the next flag', () => {
    const c = load(['--raw_logs', '--pool_max', '4']);
    expect(c.rawLogs).toBe(true);
    expect(c.poolMax).toBe(4);
  });

  it('the last of a repeated flag wins', () => {
    expect(load(['--pool_max=2', '--pool_max=5']).poolMax).toBe(5);
  });

  it('a value may contain "=" and start with "-"', () => {
    expect(load(['--mysql_password=a=b']).mysqlPassword).toBe('a=b');
    expect(load(['--mysql_password', '-x-']).mysqlPassword).toBe('-x-');
  });
});

describe('environment variables', () => {
  it('a command-line flag beats the env var', () => {
    const env = { DATABALANCER_POOL_MAX: '7', DATABALANCER_MYSQL_ADDRESS: 'envhost:1' };
    const fromEnv = load([], env);
    expect(fromEnv.poolMax).toBe(7);
    expect(fromEnv.mysqlAddress).toBe('envhost:1');
    const fromFlag = load(['--pool_max=3', '-mysql_address', 'flaghost:2'], env);
    expect(fromFlag.poolMax).toBe(3);
    expect(fromFlag.mysqlAddress).toBe('flaghost:2');
    expect(fromFlag.shards[0]?.host).toBe('flaghost');
  });

  it('an empty env var counts as unset', () => {
    expect(load([], { DATABALANCER_POOL_MAX: '', DATABALANCER_SHARDS: '' }).poolMax).toBe(10);
  });

  it('LOG_LEVEL is a fallback for log_level, after DATABALANCER_LOG_LEVEL and the flag', () => {
    expect(load([], { LOG_LEVEL: 'silent' }).logLevel).toBe('silent');
    expect(load([], { LOG_LEVEL: 'silent', DATABALANCER_LOG_LEVEL: 'warn' }).logLevel).toBe('warn');
    expect(load(['--log_level=error'], { LOG_LEVEL: 'silent', DATABALANCER_LOG_LEVEL: 'warn' }).logLevel).toBe('error');
    expect(load(['--log_level=DEBUG']).logLevel).toBe('debug');
  });

  it('NODE_ENV=production sets production and serves the offline explorer instead of the sandbox', () => {
    const c = load([], { NODE_ENV: 'production' });
    expect(c.production).toBe(true);
    expect(c.graphql.explorer).toBe('graphiql');
    expect(load(['--graphql_explorer=off'], { NODE_ENV: 'production' }).graphql.explorer).toBe('off');
    expect(load(['--graphql_explorer=GraphiQL']).graphql.explorer).toBe('graphiql');
    expect(problemsOf(['--graphql_explorer=playground']).join('\n')).toContain('sandbox, graphiql or off');
    expect(load([], { NODE_ENV: 'development' }).production).toBe(false);
  });

  it('ignores unrelated env vars but reports unknown DATABALANCER_ ones', () => {
    expect(load([], { PATH: '/bin', HOME: '/root', MYSQL_ADDRESS: 'x' }).mysqlAddress).toBe('localhost:3306');
    const problems = problemsOf([], { DATABALANCER_POOL_MAXX: '3' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('DATABALANCER_POOL_MAXX');
    expect(problems[0]).toContain('DATABALANCER_POOL_MAX?');
  });
});

describe('--shards', () => {
  it('parses host:port, bare host (port 3306) and names', () => {
    const c = load(['--shards', 'db1:3307, db2 ,c=db3:3308'], { DATABALANCER_MYSQL_PASSWORD: 'pw' });
    expect(c.shards).toEqual([
      { id: 'db1:3307/databalancer', host: 'db1', port: 3307, user: 'root', password: 'pw', database: 'databalancer', named: false },
      { id: 'db2:3306/databalancer', host: 'db2', port: 3306, user: 'root', password: 'pw', database: 'databalancer', named: false },
      { id: 'c', host: 'db3', port: 3308, user: 'root', password: 'pw', database: 'databalancer', named: true },
    ]);
  });

  it('parses mysql:// URLs with %-encoded credentials and a database', () => {
    const c = load(['--shards=a=mysql://bob%40corp:p%40ss%3Aw%2Frd@db1:3310/logs_a,mysql://db2']);
    expect(c.shards[0]).toEqual({ id: 'a', host: 'db1', port: 3310, user: 'bob@corp', password: 'p@ss:w/rd', database: 'logs_a', named: true });
    // No credentials, port or database: the mysql_* defaults.
    expect(c.shards[1]).toEqual({ id: 'db2:3306/databalancer', host: 'db2', port: 3306, user: 'root', password: '', database: 'databalancer', named: false });
  });

  it('URL credentials default independently from the mysql_* flags', () => {
    const c = load(['--mysql_username=u0', '--mysql_password=p0', '--mysql_database=d0', '--shards=mysql://bob@h1,mysql://bob:@h2,mysql://:x@h3/db3']);
    expect(c.shards.map((s) => [s.user, s.password, s.database])).toEqual([
      ['bob', 'p0', 'd0'],
      ['bob', '', 'd0'],
      ['u0', 'x', 'db3'],
    ]);
  });

  it('accepts IPv6 addresses in brackets', () => {
    const c = load(['--shards=[::1]:3307,v6=mysql://u:p@[fe80::1]/d,[::2]']);
    expect(c.shards[0]).toMatchObject({ id: '[::1]:3307/databalancer', host: '::1', port: 3307 });
    expect(c.shards[1]).toMatchObject({ id: 'v6', host: 'fe80::1', port: 3306, user: 'u', password: 'p', database: 'd' });
    expect(c.shards[2]).toMatchObject({ host: '::2', port: 3306 });
    expect(load(['--mysql_address=[::1]:3310']).shards[0]).toMatchObject({ host: '::1', port: 3310, id: '[::1]:3310/databalancer' });
  });

  it('the same server with different databases are different shards', () => {
    const c = load(['--shards=mysql://h/a,mysql://h/b']);
    expect(c.shards.map((s) => s.id)).toEqual(['h:3306/a', 'h:3306/b']);
  });

  it('refuses duplicate ids and two shards on the same host:port/database', () => {
    const dupName = problemsOf(['--shards=a=h1,a=h2']);
    expect(dupName).toHaveLength(1);
    expect(dupName[0]).toContain('"a"');
    expect(dupName[0]).toContain('unique');

    const sameServer = problemsOf(['--shards=a=h1:3306,b=h1']);
    expect(sameServer).toHaveLength(1);
    expect(sameServer[0]).toContain('h1:3306/databalancer');

    const sameUnnamed = problemsOf(['--shards=h1,h1:3306']);
    expect(sameUnnamed).toHaveLength(1);
  });

  it('refuses bad ports, names, hosts, schemes and empty items, naming the item', () => {
    const problems = problemsOf([
      '--shards=h1:0,h2:65536,h3:abc,bad name=h4,x=,h5:,,ftp://h6,::1,mysql://h7/db?ssl=1,mysql://u:%zz@h8,'
      + `${'n'.repeat(65)}=h9,h10:65535,`,
    ]);
    expect(problems).toHaveLength(13);
    expect(problems[0]).toMatch(/item 1 .*out of range/);
    expect(problems[1]).toMatch(/item 2 .*65536.*out of range/);
    expect(problems[2]).toMatch(/item 3 .*not a number/);
    expect(problems[3]).toMatch(/item 4 .*shard name "bad name"/);
    expect(problems[4]).toMatch(/item 5 .*no address/);
    expect(problems[5]).toMatch(/item 6 .*port is empty/);
    expect(problems[6]).toMatch(/item 7 is empty/);
    expect(problems[7]).toMatch(/item 8 .*scheme/);
    expect(problems[8]).toMatch(/item 9 .*brackets/);
    expect(problems[9]).toMatch(/item 10 .*not supported/);
    expect(problems[10]).toMatch(/item 11 .*%-escape/);
    expect(problems[11]).toMatch(/item 12 .*shard name/);
    expect(problems[12]).toMatch(/item 14 is empty/);
  });

  it('accepts the edge ports 1 and 65535 and 64-character names', () => {
    const name = 'N'.repeat(64);
    const c = load([`--shards=h:1,${name}=h:65535`]);
    expect(c.shards.map((s) => s.port)).toEqual([1, 65535]);
    expect(c.shards[1]?.id).toBe(name);
  });

  it('never puts a URL password in a problem', () => {
    const problems = problemsOf(['--shards=mysql://u:topsecret@h:99999/db']);
    expect(problems.join('\n')).not.toContain('topsecret');
  });
});

describe('--catalog', () => {
  it('defaults to the first shard', () => {
    const c = load(['--shards=a=h1,b=h2']);
    expect(c.catalog.id).toBe('a');
    expect(c.catalog).toBe(c.shards[0]);
  });

  it('selects a shard by id, named or unnamed', () => {
    expect(load(['--shards=a=h1,b=h2', '--catalog=b']).catalog.id).toBe('b');
    expect(load(['--shards=h1,h2:3307', '--catalog=h2:3307/databalancer']).catalog.host).toBe('h2');
  });

  it('a URL or host:port is a separate catalog server with id "catalog"', () => {
    const c = load(['--shards=a=h1,b=h2', '--catalog=mysql://cu:c%40p@cathost:3399/meta']);
    expect(c.catalog).toEqual({ id: 'catalog', host: 'cathost', port: 3399, user: 'cu', password: 'c@p', database: 'meta', named: true });
    expect(c.shards.map((s) => s.id)).toEqual(['a', 'b']);
    expect(load(['--catalog=cat:3300'], { DATABALANCER_MYSQL_PASSWORD: 'pw' }).catalog).toEqual({
      id: 'catalog', host: 'cat', port: 3300, user: 'root', password: 'pw', database: 'databalancer', named: true,
    });
  });

  it('an address equal to a shard means that shard', () => {
    expect(load(['--shards=a=h1,b=h2:3307', '--catalog=h2:3307']).catalog.id).toBe('b');
  });

  it('refuses an unknown shard id, listing the ids', () => {
    const problems = problemsOf(['--shards=a=h1,b=h2', '--catalog=c']);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('"a", "b"');
  });

  it('refuses a malformed catalog address', () => {
    expect(problemsOf(['--catalog=h:70000'])[0]).toMatch(/--catalog.*out of range/);
  });
});

describe('values and validation', () => {
  it('heap_growing_percent: 50 by default, 0 (V8 decides) to 1000', () => {
    expect(load([]).heapGrowingPercent).toBe(50);
    expect(load(['--heap_growing_percent=0']).heapGrowingPercent).toBe(0);
    expect(load(['--heap_growing_percent=200']).heapGrowingPercent).toBe(200);
    expect(problemsOf(['--heap_growing_percent=-1'])[0]).toContain('--heap_growing_percent');
    expect(problemsOf(['--heap_growing_percent=1001'])[0]).toContain('--heap_growing_percent');
  });

  it('server_address forms', () => {
    expect(load(['--server_address=:9090']).server).toEqual({ host: '0.0.0.0', port: 9090, address: ':9090' });
    expect(load(['--server_address=0.0.0.0:80']).server).toEqual({ host: '0.0.0.0', port: 80, address: '0.0.0.0:80' });
    expect(load(['--server_address=[::]:8081']).server).toEqual({ host: '::', port: 8081, address: '[::]:8081' });
    expect(load(['--server_address=localhost:1']).server.host).toBe('localhost');
    expect(problemsOf(['--server_address=localhost'])[0]).toMatch(/port is missing/);
    // Port 0 asks the OS for any free port (tests and tools listen that way); shard ports must be 1-65535.
    expect(load(['--server_address=127.0.0.1:0']).server).toEqual({ host: '127.0.0.1', port: 0, address: '127.0.0.1:0' });
    expect(problemsOf(['--server_address=:65536'])[0]).toMatch(/out of range/);
    expect(problemsOf(['--mysql_address=db:0'])[0]).toMatch(/out of range/);
  });

  it('numbers must be positive integers within range', () => {
    for (const bad of ['0', '-1', '1.5', 'abc', '1e3', ' ', '9007199254740993']) {
      const problems = problemsOf([`--pool_max=${bad}`]);
      expect(problems, bad).toHaveLength(1);
      expect(problems[0]).toContain('--pool_max');
      expect(problems[0]).toContain('positive integer');
    }
    expect(problemsOf(['--purge_interval_seconds=-1'])[0]).toContain('non-negative');
    expect(problemsOf(['--max_columns=5000'])[0]).toContain('from 1 to 1010');
    expect(load(['--max_columns=1010']).maxColumns).toBe(1010);
    expect(load(['--pool_max= 12 ']).poolMax).toBe(12);
  });

  it('names the env var when the bad value came from the environment', () => {
    expect(problemsOf([], { DATABALANCER_QUERY_TIMEOUT_MS: 'soon' })[0]).toContain('DATABALANCER_QUERY_TIMEOUT_MS');
  });

  it('refuses an unknown log level and a bad boolean', () => {
    expect(problemsOf(['--log_level=verbose'])[0]).toMatch(/log level.*fatal, error, warn, info, debug, trace, silent/);
    expect(problemsOf([], { LOG_LEVEL: 'loud' })[0]).toContain('LOG_LEVEL');
    expect(problemsOf(['--raw_logs=maybe'])[0]).toContain('not a boolean');
  });

  it('default_retention durations', () => {
    expect(load(['--default_retention=12h']).retention.defaultSeconds).toBe(43_200);
    expect(load(['--default_retention=3600s']).retention.defaultSeconds).toBe(3600);
    expect(load(['--default_retention=3600']).retention.defaultSeconds).toBe(3600);
    expect(load(['--default_retention=']).retention.defaultSeconds).toBeNull();
    expect(problemsOf(['--default_retention=0'])[0]).toContain('--default_retention');
    expect(problemsOf(['--default_retention=forever'])[0]).toContain('duration');
  });

  it('parseDurationSeconds', () => {
    expect(parseDurationSeconds('7d')).toBe(604_800);
    expect(parseDurationSeconds('1w')).toBe(604_800);
    expect(parseDurationSeconds('1d12h')).toBe(129_600);
    expect(parseDurationSeconds('30M')).toBe(1800);
    expect(parseDurationSeconds(' 10 ')).toBe(10);
    expect(parseDurationSeconds('0s')).toBeUndefined();
    expect(parseDurationSeconds('-5')).toBeUndefined();
    expect(parseDurationSeconds('5x')).toBeUndefined();
    expect(parseDurationSeconds('')).toBeUndefined();
  });

  it('refuses an empty user, a bad database name and a bad mysql_address', () => {
    expect(problemsOf(['--mysql_username='])[0]).toContain('--mysql_username');
    expect(problemsOf(['--mysql_database='])[0]).toContain('--mysql_database');
    expect(problemsOf([`--mysql_database=${'d'.repeat(65)}`])[0]).toContain('64');
    expect(problemsOf(['--mysql_address=host:99999'])[0]).toMatch(/--mysql_address.*out of range/);
  });

  it('reports unknown flags with a suggestion', () => {
    const problems = problemsOf(['--mysql_adress=h:1']);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('unknown flag --mysql_adress');
    expect(problems[0]).toContain('did you mean --mysql_address?');
    // The unknown flag's value is not reported a second time.
    expect(problemsOf(['--frobnicate', 'yes'])).toHaveLength(1);
  });

  it('names --help once per error, not once per problem', () => {
    const argv = ['--mysql_adress=h:1', 'extra', '---pool_max=1', '--', 'x'];
    const env = { DATABALANCER_FROBNICATE: '1' };
    const problems = problemsOf(argv, env);
    expect(problems).toHaveLength(5);
    for (const problem of problems) expect(problem).not.toContain('--help');
    try {
      loadConfig(argv, env);
    } catch (error) {
      expect((error as Error).message.match(/--help/g)).toHaveLength(1);
    }
  });

  it('reports stray arguments, missing values and bad syntax', () => {
    expect(problemsOf(['extra'])[0]).toContain('unexpected argument "extra"');
    expect(problemsOf(['--raw_logs', 'false'])[0]).toContain('--raw_logs=false');
    expect(problemsOf(['--pool_max'])[0]).toContain('needs a value');
    expect(problemsOf(['---pool_max=1'])[0]).toContain('bad flag syntax');
    expect(problemsOf(['--', 'x'])[0]).toContain('after "--"');
  });

  it('collects every problem before throwing', () => {
    const problems = problemsOf(
      ['--pool_max=0', '--nope=1', '--shards=a=h1,a=h2', '--log_level=loud', '--server_address=x'],
      { DATABALANCER_QUERY_MAX_ROWS: 'many' },
    );
    expect(problems).toHaveLength(6);
    const text = problems.join('\n');
    for (const part of ['--pool_max', '--nope', 'unique', '--log_level', '--server_address', 'DATABALANCER_QUERY_MAX_ROWS']) {
      expect(text).toContain(part);
    }
    expect(() => loadConfig(['--pool_max=0', '--nope=1'], {})).toThrow(/^invalid configuration \(2 problems.*\n {2}- .*\n {2}- .*$/);
  });
});

describe('help', () => {
  for (const flag of ['-h', '--help', '-help', '--h']) {
    it(`${flag} throws HelpRequested, even with other problems`, () => {
      expect(() => loadConfig([flag], {})).toThrow(HelpRequested);
      expect(() => loadConfig(['--pool_max=0', '--nope', flag], {})).toThrow(HelpRequested);
    });
  }

  it('helpText lists every flag Go-style with default and env var', () => {
    const text = helpText();
    expect(text.startsWith('Usage: databalancer [flags]\n')).toBe(true);
    expect(text).toContain('  -mysql_address string\n    \tThe MySQL server address');
    expect(text).toContain('(default "localhost:3306") [env DATABALANCER_MYSQL_ADDRESS]');
    expect(text).toContain('  -pool_max int\n');
    expect(text).toContain('(default 10) [env DATABALANCER_POOL_MAX]');
    expect(text).toContain('  -raw_logs\n');
    expect(text).toContain('(default true) [env DATABALANCER_RAW_LOGS]');
    const flagNames = [
      'mysql_address', 'mysql_username', 'mysql_password', 'mysql_database', 'server_address', 'shards', 'catalog',
      'log_level', 'body_limit_bytes', 'max_columns', 'query_timeout_ms', 'query_max_rows', 'federation_max_rows',
      'idempotency_ttl_seconds', 'pool_max', 'ring_vnodes', 'raw_logs', 'default_retention', 'purge_interval_seconds',
      'purge_batch_size', 'graphql_introspection', 'graphql_max_depth', 'graphql_max_cost',
    ];
    for (const name of flagNames) {
      expect(text).toMatch(new RegExp(`\\n {2}-${name}( string| int)?\\n {4}\\t.+\\[env DATABALANCER_${name.toUpperCase()}\\]`));
    }
    expect(text).toContain('  -help\n');
  });
});
