/**
 * Command-line options of `npm run bench`. Pure: parses argv, returns a frozen
 * options object or throws an Error listing every problem.
 */

/** One MySQL/MariaDB server the benchmark may use as a shard. */
export interface ServerEndpoint {
  /** Shard id given to the gateway (`name=` prefix, or shard_a, shard_b, ...). */
  id: string;
  host: string;
  port: number;
  user: string;
  password: string;
}

/** Which gateway build to spawn: `auto` uses dist/ when it is newer than src/, else tsx. */
export type GatewayBuild = 'auto' | 'tsx' | 'dist';

/** Parsed options. */
export interface BenchOptions {
  quick: boolean;
  /** Servers from --shards; empty means "start three throwaway servers". */
  shards: ServerEndpoint[];
  /** Scenario numbers to run (1-10); all by default. The RSS check is scenario "rss". */
  only: ReadonlySet<string>;
  profile: boolean;
  gateway: GatewayBuild;
  /** Seconds of one measured run. */
  runSeconds: number;
  /** Seconds of warm-up before the measured runs of each side. */
  warmupSeconds: number;
  /** Measured runs per side (medians are reported). */
  runs: number;
  /** Seconds of each of the three RSS-check ingest runs. */
  rssSeconds: number;
  /** Events stored for scenario 6. */
  crossShardEvents: number;
  /** Extra flags passed to the gateway verbatim (--gateway-arg=--pool_max=20, repeatable). */
  gatewayArgs: string[];
  help: boolean;
}

/** Every scenario key accepted by --only. */
export const SCENARIO_KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', 'rss'] as const;

/** Help text for --help. */
export const HELP = `npm run bench [-- flags]

  --quick                 sanity run: 1 short run per side, 50k events for scenario 6 (< 2 minutes)
  --shards=LIST           use these servers instead of starting three throwaway ones:
                          name=mysql://user:pass@host:port,... (the bench creates and drops its own databases)
  --only=1,2,5,rss        run only these scenarios (1-10, rss = the RSS check; 9 = moving a family, 10 = spread family)
  --profile               run the gateway under node --cpu-prof (profiles in bench/results/profiles/)
                          and print its hottest functions at the end
  --gateway=auto|tsx|dist which gateway build to spawn (auto: dist/ when newer than src/, else tsx)
  --gateway-arg=FLAG      extra flag for the gateway, repeatable (e.g. --gateway-arg=--pool_max=20)
  --run-seconds=N         seconds per measured run (default 6, quick 2)
  --warmup-seconds=N      warm-up seconds per side (default 2, quick 0.75)
  --runs=N                measured runs per side, medians reported (default 3, quick 1)
  --rss-seconds=N         seconds of each of the three RSS-check runs (default 60, quick 3)
  --cross-shard-events=N  events stored for scenario 6 (default 1000000, quick 50000)
`;

function parseServer(item: string, index: number, problems: string[]): ServerEndpoint | undefined {
  let id = `shard_${String.fromCharCode(97 + index)}`;
  let spec = item.trim();
  const eq = spec.indexOf('=');
  const scheme = spec.indexOf('://');
  if (eq >= 0 && (scheme < 0 || eq < scheme)) {
    id = spec.slice(0, eq).trim();
    spec = spec.slice(eq + 1).trim();
  }
  const match = /^(?:mysql:\/\/|mariadb:\/\/)?(?:([^:@/]*)(?::([^@/]*))?@)?([^:/]+)(?::(\d+))?(?:\/.*)?$/.exec(spec);
  if (match === null) {
    problems.push(`--shards item ${index + 1} ("${item}") is not host:port or mysql://user:pass@host:port`);
    return undefined;
  }
  return {
    id,
    user: decodeURIComponent(match[1] !== undefined && match[1] !== '' ? match[1] : 'root'),
    password: decodeURIComponent(match[2] ?? ''),
    host: match[3] ?? '127.0.0.1',
    port: Number(match[4] ?? '3306'),
  };
}

function positive(name: string, text: string, problems: string[], integer: boolean): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    problems.push(`--${name}=${text} must be a positive ${integer ? 'integer' : 'number'}`);
    return 1;
  }
  return n;
}

/**
 * Parses the benchmark's flags (`--name=value` or bare booleans).
 * @throws Error naming every unknown or malformed flag.
 */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const problems: string[] = [];
  const values = new Map<string, string>();
  const gatewayArgs: string[] = [];
  for (const token of argv) {
    const m = /^--?([a-z][a-z0-9_-]*)(?:=(.*))?$/i.exec(token);
    if (m === null) {
      problems.push(`unexpected argument "${token}"; flags look like --name=value`);
      continue;
    }
    const name = (m[1] ?? '').replace(/_/g, '-');
    if (name === 'gateway-arg') {
      if (m[2] === undefined || m[2] === '') problems.push('--gateway-arg needs a value, e.g. --gateway-arg=--pool_max=20');
      else gatewayArgs.push(m[2]);
      continue;
    }
    values.set(name, m[2] ?? 'true');
  }
  const known = new Set(['quick', 'shards', 'only', 'profile', 'gateway', 'run-seconds', 'warmup-seconds', 'runs', 'rss-seconds', 'cross-shard-events', 'help', 'h']);
  for (const name of values.keys()) if (!known.has(name)) problems.push(`unknown flag --${name} (see --help)`);

  const quick = values.has('quick') && values.get('quick') !== 'false';
  const shards = (values.get('shards') ?? '')
    .split(',')
    .filter((s) => s.trim() !== '')
    .map((item, i) => parseServer(item, i, problems))
    .filter((s): s is ServerEndpoint => s !== undefined);
  const onlyText = values.get('only');
  const only = new Set(onlyText === undefined ? SCENARIO_KEYS : onlyText.split(',').map((s) => s.trim()));
  for (const key of only) if (!(SCENARIO_KEYS as readonly string[]).includes(key)) problems.push(`--only: unknown scenario "${key}" (use 1-10 or rss)`);
  const gateway = (values.get('gateway') ?? 'auto') as GatewayBuild;
  if (!['auto', 'tsx', 'dist'].includes(gateway)) problems.push(`--gateway=${gateway} must be auto, tsx or dist`);
  const num = (name: string, fallback: number, integer = false): number => {
    const text = values.get(name);
    return text === undefined ? fallback : positive(name, text, problems, integer);
  };
  const options: BenchOptions = {
    quick,
    shards,
    only,
    profile: values.has('profile') && values.get('profile') !== 'false',
    gateway,
    runSeconds: num('run-seconds', quick ? 2 : 6),
    warmupSeconds: num('warmup-seconds', quick ? 0.75 : 2),
    runs: num('runs', quick ? 1 : 3, true),
    rssSeconds: num('rss-seconds', quick ? 3 : 60),
    crossShardEvents: num('cross-shard-events', quick ? 50_000 : 1_000_000, true),
    gatewayArgs,
    help: values.has('help') || values.has('h'),
  };
  if (problems.length > 0) throw new Error(`bench: ${problems.join('; ')}`);
  return Object.freeze(options);
}
