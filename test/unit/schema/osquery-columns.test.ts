import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateFieldName } from '../../../src/schema/identifiers.js';
import {
  OSQUERY_SPEC_SOURCE,
  OSQUERY_SPEC_TABLES,
  decideOsqueryColumns,
  matchOsqueryTable,
  osqueryFieldType,
  osqueryStatusFields,
  type OsquerySpecs,
} from '../../../src/schema/osquery-columns.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');

function typesOf(fields: Array<{ name: string; type: string }>): Record<string, string> {
  return Object.fromEntries(fields.map((f) => [f.name, f.type]));
}

describe('the generated spec data', () => {
  it('records the osquery version and commit it came from', () => {
    expect(OSQUERY_SPEC_SOURCE.osqueryVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(OSQUERY_SPEC_SOURCE.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(Object.keys(OSQUERY_SPEC_TABLES)).toHaveLength(OSQUERY_SPEC_SOURCE.tables);
  });

  it('holds the column types of the specs, extended schemas and column aliases included', () => {
    expect(OSQUERY_SPEC_TABLES['processes']?.columns).toMatchObject({ pid: 'BIGINT', name: 'TEXT', on_disk: 'INTEGER', cgroup_path: 'TEXT', upid: 'BIGINT' });
    expect(OSQUERY_SPEC_TABLES['listening_ports']?.columns).toMatchObject({ port: 'INTEGER', fd: 'BIGINT', address: 'TEXT' });
    expect(OSQUERY_SPEC_TABLES['apparmor_events']?.columns['pid']).toBe('UNSIGNED_BIGINT');
    expect(OSQUERY_SPEC_TABLES['disk_events']?.columns['bsd_name']).toBe('TEXT');
    expect(OSQUERY_SPEC_TABLES['etc_hosts']?.aliases).toEqual(['hosts']);
    expect(OSQUERY_SPEC_TABLES['example']).toBeUndefined();
  });

  it('is what the generator makes from a spec tree (a checkout given as an argument)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'osquery-specs-'));
    try {
      mkdirSync(path.join(dir, 'specs', 'linux'), { recursive: true });
      writeFileSync(
        path.join(dir, 'specs', 'widgets.table'),
        `table_name("widgets", aliases=["gadgets"])
description("Widgets.")
schema([
    Column("wid", BIGINT, "Widget id", index=True),
    Column("label", TEXT, "A " "label", aliases=["tag"]),  # a comment
    ForeignKey(column="wid", table="parts"),
])
extended_schema(LINUX + WINDOWS, [
    Column("size", UNSIGNED_BIGINT, '''multi
line'''),
    Column("ratio", DOUBLE, "Ratio"),
])
implementation("widgets@genWidgets")
`,
      );
      writeFileSync(path.join(dir, 'specs', 'example.table'), 'table_name("example")\nschema([Column("x", TEXT, "")])\n');
      const out = path.join(dir, 'out.ts');
      execFileSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/generate-osquery-columns.ts'), dir, '--version', '9.9.9', '--out', out], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      const text = readFileSync(out, 'utf8');
      expect(text).toContain('osqueryVersion: "9.9.9"');
      expect(text).toContain(`"widgets": { columns: { "wid": 'BIGINT', "label": 'TEXT', "tag": 'TEXT', "size": 'UNSIGNED_BIGINT', "ratio": 'DOUBLE' }, aliases: ["gadgets"] },`);
      expect(text).not.toContain('"example"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('osqueryFieldType', () => {
  it('maps osquery types to field types', () => {
    expect(osqueryFieldType('INTEGER')).toBe('int');
    expect(osqueryFieldType('BIGINT')).toBe('int');
    expect(osqueryFieldType('UNSIGNED_BIGINT')).toBe('uint64');
    expect(osqueryFieldType('DOUBLE')).toBe('float');
    expect(osqueryFieldType('TEXT')).toBe('string');
    expect(osqueryFieldType('DATETIME')).toBe('string');
    expect(osqueryFieldType('BLOB')).toBe('string');
  });
});

const SPECS: OsquerySpecs = {
  processes: { columns: { pid: 'BIGINT', name: 'TEXT', path: 'TEXT', uid: 'BIGINT', on_disk: 'INTEGER' } },
  process_events: { columns: { pid: 'BIGINT', path: 'TEXT', uid: 'BIGINT', time: 'BIGINT' } },
  listening_ports: { columns: { pid: 'INTEGER', port: 'INTEGER', address: 'TEXT' } },
  users: { columns: { uid: 'BIGINT', username: 'TEXT', uuid: 'TEXT' } },
  weird: { columns: { uid: 'TEXT', path: 'TEXT' } },
  etc_hosts: { columns: { address: 'TEXT', hostnames: 'TEXT' }, aliases: ['hosts'] },
};

describe('matchOsqueryTable', () => {
  it('prefers a candidate named in the query name, as a whole word', () => {
    expect(matchOsqueryTable('pack_incident-response_processes', ['pid', 'path'], SPECS)).toEqual({
      table: 'processes',
      candidates: ['process_events', 'processes'],
    });
    expect(matchOsqueryTable('pack_x_process_events', ['pid', 'path'], SPECS).table).toBe('process_events');
    expect(matchOsqueryTable('my_hosts', ['address'], SPECS).table).toBe('etc_hosts');
  });

  it('takes the only candidate, or none when several fit and none is named', () => {
    expect(matchOsqueryTable('running', ['pid', 'name'], SPECS).table).toBe('processes');
    expect(matchOsqueryTable('running', ['pid', 'path'], SPECS).table).toBeNull();
    expect(matchOsqueryTable('processes', ['pid', 'username'], SPECS)).toEqual({ table: null, candidates: [] });
  });

  it('only matches tables holding every column of the row, ignoring case', () => {
    expect(matchOsqueryTable('pack_processes', ['PID', 'Name'], SPECS).table).toBe('processes');
    expect(matchOsqueryTable('pack_processes', ['pid', 'c'], SPECS).table).toBeNull();
  });
});

describe('decideOsqueryColumns', () => {
  it('types the columns of the matched table, metadata first and decorations last', () => {
    const decision = decideOsqueryColumns('pack_incident-response_processes', ['pid', 'name', 'on_disk', 'uid'], SPECS, { decorationKeys: ['host_uuid'] });
    expect(decision.table).toBe('processes');
    expect(decision.fields).toEqual([
      { name: 'host_identifier', type: 'string', origin: 'metadata', source: null },
      { name: 'calendar_time', type: 'timestamp', origin: 'metadata', source: null },
      { name: 'action', type: 'string', origin: 'metadata', source: null },
      { name: 'epoch', type: 'uint64', origin: 'metadata', source: null },
      { name: 'counter', type: 'uint64', origin: 'metadata', source: null },
      { name: 'pid', type: 'int', origin: 'column', source: 'pid' },
      { name: 'name', type: 'string', origin: 'column', source: 'name' },
      { name: 'on_disk', type: 'int', origin: 'column', source: 'on_disk' },
      { name: 'uid', type: 'int', origin: 'column', source: 'uid' },
      { name: 'decorations_host_uuid', type: 'string', origin: 'decoration', source: 'host_uuid' },
    ]);
  });

  it('makes every column a string when no table holds the row (joins, expressions, aliases)', () => {
    const decision = decideOsqueryColumns('pack_x_processes', ['pid', 'username', 'count(*)'], SPECS);
    expect(decision.table).toBeNull();
    expect(typesOf(decision.fields.slice(5))).toEqual({ pid: 'string', username: 'string', 'count(*)': 'string' });
  });

  it('with several candidates and no name hint, types only the columns every candidate agrees on', () => {
    // pid: BIGINT in processes and process_events -> int; path: TEXT -> string.
    expect(typesOf(decideOsqueryColumns('running', ['pid', 'path'], SPECS).fields.slice(5))).toEqual({ pid: 'int', path: 'string' });
    // uid: BIGINT in processes, TEXT in weird -> string.
    expect(typesOf(decideOsqueryColumns('q', ['uid', 'path'], SPECS).fields.slice(5))).toEqual({ uid: 'string', path: 'string' });
  });

  it('renames colliding columns and keeps the source name', () => {
    const decision = decideOsqueryColumns('q', ['id', 'action', 'pid'], SPECS);
    expect(decision.fields.slice(5)).toEqual([
      { name: 'osquery_id', type: 'string', origin: 'column', source: 'id' },
      { name: 'osquery_action', type: 'string', origin: 'column', source: 'action' },
      { name: 'pid', type: 'string', origin: 'column', source: 'pid' }, // no table has id, action and pid
    ]);
  });

  it('uses the real specs by default: processes, users, listening_ports, mounts, unsigned columns', () => {
    const types = (name: string, columns: string[]): Record<string, string> => typesOf(decideOsqueryColumns(name, columns).fields.slice(5));
    expect(types('pack_incident-response_processes', ['pid', 'name', 'parent', 'resident_size', 'threads', 'cgroup_path'])).toEqual({
      pid: 'int', name: 'string', parent: 'int', resident_size: 'int', threads: 'int', cgroup_path: 'string',
    });
    expect(types('pack_incident-response_users', ['uid', 'gid', 'username', 'uuid'])).toMatchObject({ uid: 'int', username: 'string' });
    expect(types('pack_network_listening_ports', ['pid', 'port', 'protocol', 'address', 'socket'])).toEqual({
      pid: 'int', port: 'int', protocol: 'int', address: 'string', socket: 'int',
    });
    expect(types('mounts', ['device', 'path', 'blocks', 'blocks_size', 'inodes_free', 'flags'])).toEqual({
      device: 'string', path: 'string', blocks: 'int', blocks_size: 'int', inodes_free: 'int', flags: 'string',
    });
    expect(types('apparmor_events', ['pid', 'parent', 'comm'])).toEqual({ pid: 'uint64', parent: 'uint64', comm: 'string' });
    for (const field of decideOsqueryColumns('q', ['id', '__proto__', 'x ']).fields) expect(() => validateFieldName(field.name)).not.toThrow();
  });
});

describe('osqueryStatusFields', () => {
  it('lists the status family columns', () => {
    expect(typesOf(osqueryStatusFields(['host_uuid']))).toEqual({
      host_identifier: 'string',
      calendar_time: 'timestamp',
      severity: 'int',
      filename: 'string',
      line: 'int',
      message: 'string',
      version: 'string',
      decorations_host_uuid: 'string',
    });
  });
});
