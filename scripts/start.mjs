/**
 * `npm start`: runs the compiled gateway (dist/src/main.js) in this very
 * process, compiling it first with `tsc -p tsconfig.build.json` when dist/ is
 * missing or older than anything under src/ (or the tsconfig files).
 *
 * Plain JavaScript on purpose: no tsx, no child process. The gateway IS the
 * process npm started, so the signals npm forwards (SIGTERM, SIGINT) reach the
 * gateway's own handlers and shut it down cleanly, and it runs as fast as
 * `npm run start:dist`. Arguments are the gateway's: `npm start -- --help`.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, utimesSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = join(ROOT, 'dist', 'src', 'main.js');
const INPUTS = [join(ROOT, 'src'), join(ROOT, 'tsconfig.json'), join(ROOT, 'tsconfig.build.json')];

/** Newest modification time (ms) of a file, or of a folder and everything in it (a folder's own time changes when an entry is added, removed or renamed). */
function newestMtime(path) {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (stat === undefined) return 0;
  let newest = stat.mtimeMs;
  if (stat.isDirectory()) {
    for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  }
  return newest;
}

function mtimeOf(path) {
  return statSync(path, { throwIfNoEntry: false })?.mtimeMs;
}

/** Compiles src/ into dist/; exits when tsc fails (type errors, or tsc missing). */
function compile(reason) {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  process.stderr.write(`compiling src/ into dist/ with tsc -p tsconfig.build.json (${reason}) ...\n`);
  const result = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
  if (result.status === 0) return;
  // tsc writes its output even when it reports errors: mark it stale so the next start compiles again.
  if (mtimeOf(ENTRY) !== undefined) utimesSync(ENTRY, 0, 0);
  const why = result.error?.message ?? (result.signal === null ? `exit code ${result.status}` : `signal ${result.signal}`);
  process.stderr.write(`databalancer: not starting: tsc failed (${why}); fix the errors above, or run the sources without type-checking: npx tsx src/main.ts\n`);
  process.exit(1);
}

// A --workers child (node:cluster runs this same script) uses what its supervisor just checked.
if (process.env['NODE_UNIQUE_ID'] === undefined) {
  const built = mtimeOf(ENTRY);
  if (built === undefined) {
    compile(`${relative(ROOT, ENTRY)} is missing`);
  } else if (Math.max(...INPUTS.map(newestMtime)) > built) {
    compile('the sources changed since the last build');
  }
}

await import(pathToFileURL(ENTRY).href);
