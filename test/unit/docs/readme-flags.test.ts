/**
 * The configuration table in README.md documents exactly the flags the
 * gateway accepts, each once, with the same defaults. The flags are read from
 * `helpText()` (src/config/config.ts), which prints every flag spec with its
 * default, so the README, `--help` and the config definitions cannot drift
 * apart.
 *
 * README rows look like ``| `flag` | default | meaning |``. A default written
 * in backticks (`` `10000` ``) must equal the flag's default; any other text,
 * such as "(none)", "(empty)" or "first shard", means the flag has no value
 * by default (its default is the empty string).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { helpText } from '../../../src/config/config.js';

interface DocumentedFlag {
  readonly name: string;
  /** The backticked default, or '' when the cell says the flag has none. */
  readonly defaultValue: string;
}

/** The rows of the table under `## Configuration`, in order. */
function readmeFlags(): DocumentedFlag[] {
  const text = readFileSync('README.md', 'utf8');
  const start = text.indexOf('\n## Configuration\n');
  expect(start, 'README.md has a "## Configuration" section').toBeGreaterThan(0);
  const next = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, next === -1 ? undefined : next);
  const rows: DocumentedFlag[] = [];
  for (const line of section.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const match = /^\| `([a-z0-9_]+)` \| ([^|]*) \|/.exec(line);
    expect(match, `configuration table row is | \`flag\` | default | meaning |: ${line}`).not.toBeNull();
    const [, name, cell] = match as RegExpExecArray;
    const code = /^`([^`]*)`$/.exec((cell as string).trim());
    rows.push({ name: name as string, defaultValue: code ? (code[1] as string) : '' });
  }
  return rows;
}

/** Every flag of `helpText()` with its default ('' when none is printed); `help` itself excluded. */
function configFlags(): Map<string, string> {
  const lines = helpText().split('\n');
  const flags = new Map<string, string>();
  for (let i = 0; i < lines.length; i++) {
    const head = /^ {2}-([a-z0-9_]+)(?: (?:string|int))?$/.exec(lines[i] as string);
    if (!head || head[1] === 'help') continue;
    const usage = lines[i + 1] ?? '';
    const shown = / \(default (?:"([^"]*)"|([^)\s]+))\) \[env [A-Z0-9_]+\]$/.exec(usage);
    flags.set(head[1] as string, shown ? ((shown[1] ?? shown[2]) as string) : '');
  }
  return flags;
}

describe('README configuration table', () => {
  it('documents each flag once', () => {
    const names = readmeFlags().map((f) => f.name);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([]);
  });

  it('lists exactly the flags of the config definitions', () => {
    const flags = configFlags();
    expect(flags.size).toBeGreaterThan(10);
    expect(readmeFlags().map((f) => f.name).sort()).toEqual([...flags.keys()].sort());
  });

  it('gives each flag the default of its definition', () => {
    const flags = configFlags();
    for (const { name, defaultValue } of readmeFlags()) {
      expect({ flag: name, default: defaultValue }).toEqual({ flag: name, default: flags.get(name) });
    }
  });
});
