/**
 * `npm run lint:only`: fails when a test file still has `.only` (a focused
 * test makes CI run fewer tests than it claims). Prints each offending line.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const FOCUSED = /\b(?:it|test|describe|suite)\.only\s*\(/;

function* testFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* testFiles(path);
    else if (/\.test\.[cm]?[jt]s$/.test(entry)) yield path;
  }
}

let found = 0;
for (const file of testFiles('test')) {
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (FOCUSED.test(line)) {
        found++;
        process.stderr.write(`${file}:${i + 1}: ${line.trim()}\n`);
      }
    });
}
if (found > 0) {
  process.stderr.write(`${found} focused test(s): remove .only before committing\n`);
  process.exit(1);
}
process.stdout.write('no focused tests\n');
