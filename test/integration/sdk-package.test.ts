/**
 * The SDK as a real package: `npm pack` in sdk/ (its prepack builds sdk/dist
 * with sdk/tsconfig.json) gives a tarball of JavaScript and declarations that
 * installs into a project outside the repository. There, plain `node` imports
 * '@databalancer/client' and talks to a real gateway over real shards, and
 * `tsc` type-checks a consumer against the shipped declarations both with
 * Node's resolution and with a bundler's.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const run = promisify(execFile);
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const sdkDir = join(repo, 'sdk');
const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
const shards = inject('shards');

let gateway: TestGateway;
let work: string;
let project: string;
let tarball: string;
let packedFiles: string[];

/** Runs a command, failing with its output (npm and tsc say what is wrong on stdout). */
async function sh(file: string, args: string[], cwd: string, timeout = 120_000): Promise<string> {
  try {
    const { stdout } = await run(file, args, { cwd, timeout, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false' } });
    return stdout;
  } catch (error) {
    const e = error as { message: string; stdout?: string; stderr?: string };
    throw new Error(`${file} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

beforeAll(async () => {
  gateway = await startGateway(shards);
  work = await mkdtemp(join(tmpdir(), 'databalancer-sdk-package-'));
  // The prepack script builds sdk/dist first, so the tarball never holds a stale build.
  const packed = JSON.parse(await sh('npm', ['pack', '--json', '--pack-destination', work], sdkDir)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const entry = packed[0];
  if (entry === undefined) throw new Error('npm pack reported no package');
  tarball = join(work, entry.filename);
  packedFiles = entry.files.map((f) => f.path).sort();
  project = join(work, 'consumer');
  await sh('mkdir', ['-p', project], work);
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'sdk-consumer', version: '1.0.0', private: true, type: 'module' }, null, 2));
  await sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], project, 180_000);
}, 240_000);

afterAll(async () => {
  await gateway?.close();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('@databalancer/client package', () => {
  it('is named @databalancer/client, versioned as the gateway, ESM with types and import exports', async () => {
    const root = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { version: string; scripts: Record<string, string> };
    expect(root.scripts['build']).toContain('tsc -p sdk/tsconfig.json');
    const sdk = JSON.parse(await readFile(join(sdkDir, 'package.json'), 'utf8')) as Record<string, any>;
    expect(sdk['name']).toBe('@databalancer/client');
    expect(sdk['version']).toBe(root.version);
    expect(sdk['type']).toBe('module');
    expect(sdk['exports']['.']).toMatchObject({ types: './dist/index.d.ts', import: './dist/index.js' });
    // graphql's print runs at runtime; the declarations name TypedDocumentNode.
    expect(Object.keys(sdk['dependencies']).sort()).toEqual(['@graphql-typed-document-node/core', 'graphql']);
  });

  it('ships the built JavaScript and declarations, not the TypeScript sources', () => {
    expect(packedFiles).toEqual(expect.arrayContaining(['package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/client.js', 'dist/client.d.ts', 'dist/generated/graphql.js', 'dist/generated/graphql.d.ts']));
    expect(packedFiles.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(packedFiles.filter((f) => f.endsWith('.graphql') || f.includes('tsconfig'))).toEqual([]);
  });

  it('works under plain node (ESM) against a real gateway: ingestLogs, rawQuery, describe, and typed errors', async () => {
    const family = uniqueFamily('sdkpkg');
    await writeFile(
      join(project, 'app.mjs'),
      `import { createClient, DatabalancerError, RawQueryDocument } from '@databalancer/client';
const [url, family] = process.argv.slice(2);
const db = createClient({ url });
const ingested = await db.ingestLogs({ family, schema: { name: 'string', weight: 'int' }, logs: [{ name: 'rex', weight: 30 }, { name: 'fido', weight: 5 }] });
const queried = await db.rawQuery(\`SELECT name, weight FROM \${family} WHERE weight > 10\`);
const described = await db.describe();
let error = null;
try {
  await db.rawQuery(\`DELETE FROM \${family}\`);
} catch (e) {
  error = { isDatabalancerError: e instanceof DatabalancerError, code: e.code };
}
console.log(JSON.stringify({
  ingested: ingested.ingested,
  results: queried.results,
  table: described.tables.find((t) => t.name === family)?.columns.map((c) => c.name) ?? null,
  error,
  documentKind: RawQueryDocument.kind,
}));
`,
    );
    const out = JSON.parse(await sh(process.execPath, ['app.mjs', `${gateway.url}/graphql`, family], project)) as Record<string, any>;
    expect(out['ingested']).toBe(2);
    expect(out['results']).toEqual([{ name: 'rex', weight: 30 }]);
    expect(out['table']).toEqual(expect.arrayContaining(['id', 'name', 'weight']));
    expect(out['error']).toEqual({ isDatabalancerError: true, code: expect.any(String) });
    expect(out['error'].code).not.toMatch(/^(INTERNAL_SERVER_ERROR|HTTP_ERROR|NETWORK_ERROR)$/);
    expect(out['documentKind']).toBe('Document');
  }, 120_000);

  it('type-checks a strict consumer against the shipped declarations (NodeNext and Bundler resolution)', async () => {
    await writeFile(
      join(project, 'consumer.ts'),
      `import { createClient, DatabalancerError, type DatabalancerClient, type RowFilter, type IngestLogsMutationVariables } from '@databalancer/client';
const db: DatabalancerClient = createClient({ url: 'http://localhost:8080/graphql', headers: { 'x-team': 'dogs' } });
const where: RowFilter = { and: [{ field: 'weight', gt: 10 }, { not: { field: 'name', like: 's%' } }] };
const vars: IngestLogsMutationVariables = { family: 'dogs', schema: { name: 'string' }, logs: [{ name: 'rex' }] };
export async function main(): Promise<string> {
  const ingested: number = (await db.ingestLogs(vars)).ingested;
  const page = await db.family('dogs').rows({ where, limit: 10 });
  const more: boolean = page.hasMore;
  const created: string = (await db.family('dogs').get()).createdAt;
  try {
    await db.rawQuery('SELECT 1');
  } catch (error) {
    if (error instanceof DatabalancerError) return error.code;
  }
  return \`\${ingested} \${more} \${created}\`;
}
`,
    );
    const base = { target: 'ES2022', lib: ['ES2022', 'DOM'], strict: true, noEmit: true, skipLibCheck: false, types: [] };
    await writeFile(join(project, 'tsconfig.node.json'), JSON.stringify({ compilerOptions: { ...base, module: 'NodeNext', moduleResolution: 'NodeNext' }, files: ['consumer.ts'] }));
    await writeFile(join(project, 'tsconfig.bundler.json'), JSON.stringify({ compilerOptions: { ...base, module: 'ESNext', moduleResolution: 'Bundler' }, files: ['consumer.ts'] }));
    await Promise.all([sh(process.execPath, [tsc, '-p', 'tsconfig.node.json'], project), sh(process.execPath, [tsc, '-p', 'tsconfig.bundler.json'], project)]);
  }, 150_000);
});
