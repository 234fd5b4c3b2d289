/**
 * Consumer codegen from the docs alone: docs/consumer-codegen.yml, pointed at
 * a running gateway's /graphql (introspection, on by default), generates
 * typed documents for a consumer's own operations with @graphql-codegen/cli,
 * and the result plus a small consumer compiles under strict `tsc`: no
 * duplicate input types (typescript-operations 6 emits them itself, so the
 * `typescript` plugin must not be listed) and the custom scalars typed
 * (JSON unknown, JSONObject Record<string, unknown>, DateTime string), never
 * `unknown` where a string is expected. The generated document is then sent
 * to the gateway and answers as typed.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ingest, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const run = promisify(execFile);
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const codegenBin = join(repo, 'node_modules', '@graphql-codegen', 'cli', 'cjs', 'bin.js');
const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
const documentedUrl = 'http://localhost:8080/graphql';
const shards = inject('shards');

let gateway: TestGateway;
let work: string;
const family = uniqueFamily('cgen');

/** Runs a command, failing with its output (codegen and tsc report on stdout). */
async function sh(file: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(file, args, { cwd, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const e = error as { message: string; stdout?: string; stderr?: string };
    throw new Error(`${file} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

const operations = `# A consumer's own operations.
query Families {
  families {
    name
    createdAt
    columns { name type }
  }
}

query DogRows($name: String!, $where: RowFilter, $orderBy: [RowOrder!]) {
  family(name: $name) {
    rows(where: $where, orderBy: $orderBy, limit: 10) {
      rows
      hasMore
    }
  }
}

query Sql($query: String!) {
  rawQuery(query: $query) {
    results
    columns { name type }
    truncated
  }
}

mutation Ingest($family: String!, $schema: JSONObject!, $logs: [JSONObject!]!) {
  ingestLogs(family: $family, schema: $schema, logs: $logs) {
    ingested
    shard
  }
}
`;

// Strict consumer code: every assignment below fails to compile when a
// scalar comes out `unknown` or an input type is missing or duplicated.
const consumer = `import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { DogRowsDocument, FamiliesDocument, IngestDocument, SqlDocument, type DogRowsQueryVariables, type RowFilter } from './gql/graphql.js';

async function execute<TResult, TVariables>(url: string, document: TypedDocumentNode<TResult, TVariables>, variables: TVariables): Promise<TResult> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: print(document), variables }) });
  const body = (await response.json()) as { data?: TResult; errors?: Array<{ message: string }> };
  if (body.errors !== undefined || body.data === undefined) throw new Error(body.errors?.[0]?.message ?? 'no data');
  return body.data;
}

const [url = '', family = ''] = process.argv.slice(2);
const schema: Record<string, unknown> = { name: 'string', weight: 'int' };
const ingested: number = (await execute(url, IngestDocument, { family, schema, logs: [{ name: 'rex', weight: 30 }] })).ingestLogs.ingested;
const families = (await execute(url, FamiliesDocument, {})).families;
const created: string | undefined = families.find((f) => f.name === family)?.createdAt;
const where: RowFilter = { and: [{ field: 'weight', gt: 10 }, { not: { field: 'name', like: 's%' } }] };
const variables: DogRowsQueryVariables = { name: family, where, orderBy: [{ field: 'weight', direction: 'DESC' }] };
const rows: Array<Record<string, unknown>> = (await execute(url, DogRowsDocument, variables)).family.rows.rows;
const sql = (await execute(url, SqlDocument, { query: \`SELECT name FROM \${family}\` })).rawQuery;
const results: Array<Record<string, unknown>> = sql.results;
const truncated: boolean = sql.truncated;
console.log(JSON.stringify({ ingested, created: typeof created, rows, results, truncated }));
`;

beforeAll(async () => {
  gateway = await startGateway(shards);
  work = await mkdtemp(join(tmpdir(), 'databalancer-consumer-codegen-'));
  // The consumer's dependencies (codegen, its plugins, graphql, typescript) are the repository's.
  await symlink(join(repo, 'node_modules'), join(work, 'node_modules'), 'dir');
  await writeFile(join(work, 'package.json'), JSON.stringify({ name: 'codegen-consumer', private: true, type: 'module' }));
  await mkdir(join(work, 'src'), { recursive: true });
  await writeFile(join(work, 'src', 'operations.graphql'), operations);
  await writeFile(join(work, 'src', 'consumer.ts'), consumer);
  await writeFile(
    join(work, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM'], types: ['node'], strict: true, noUncheckedIndexedAccess: true, verbatimModuleSyntax: true, skipLibCheck: false, outDir: 'out' },
      include: ['src'],
    }),
  );
}, 120_000);

afterAll(async () => {
  await gateway?.close();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('docs/consumer-codegen.yml', () => {
  it('generates from a running gateway, compiles under strict tsc, and the typed documents work', async () => {
    const documented = await readFile(join(repo, 'docs', 'consumer-codegen.yml'), 'utf8');
    expect(documented).toContain(documentedUrl);
    await writeFile(join(work, 'codegen.yml'), documented.replaceAll(documentedUrl, `${gateway.url}/graphql`));

    await sh(process.execPath, [codegenBin, '--config', 'codegen.yml'], work);
    const generated = await readFile(join(work, 'src', 'gql', 'graphql.ts'), 'utf8');
    expect(generated).toContain('export const DogRowsDocument');
    expect(generated.match(/export type RowFilter\b/g)).toHaveLength(1);

    // Type-checks the generated file and the consumer, then runs the compiled consumer.
    await sh(process.execPath, [tsc, '-p', 'tsconfig.json'], work);
    const ingestedBefore = await ingest(gateway, family, { name: 'string', weight: 'int' }, [{ name: 'spot', weight: 5 }]);
    expect(ingestedBefore.status).toBe(200);
    const out = JSON.parse(await sh(process.execPath, [join('out', 'consumer.js'), `${gateway.url}/graphql`, family], work)) as Record<string, unknown>;
    expect(out).toEqual({ ingested: 1, created: 'string', rows: [expect.objectContaining({ name: 'rex', weight: 30 })], results: expect.arrayContaining([{ name: 'rex' }, { name: 'spot' }]), truncated: false });
  }, 180_000);
});
