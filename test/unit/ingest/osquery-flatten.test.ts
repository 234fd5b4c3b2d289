import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { flattenOsqueryResult, osqueryCalendarTime, osqueryRowsToCells } from '../../../src/ingest/osquery-flatten.js';
import { parseOsqueryLines, readOsqueryValues, type OsqueryRecord } from '../../../src/ingest/osquery-records.js';
import { validateFieldName } from '../../../src/schema/identifiers.js';
import { decideOsqueryColumns, osqueryStatusFields } from '../../../src/schema/osquery-columns.js';
import { appErrorOf } from '../../helpers/app-error.js';

const FIXTURES = path.resolve(import.meta.dirname, '../../fixtures/osquery');
const recordsOf = (name: string): OsqueryRecord[] => {
  const { records, errors } = parseOsqueryLines(readFileSync(path.join(FIXTURES, name), 'utf8'));
  expect(errors).toEqual([]);
  return records;
};
const one = (value: unknown): OsqueryRecord => {
  const { records, errors } = readOsqueryValues([value]);
  expect(errors).toEqual([]);
  return records[0] as OsqueryRecord;
};

describe('osqueryCalendarTime', () => {
  it('takes unixTime, else calendarTime (UTC, " UTC" optional), else null', () => {
    expect(osqueryCalendarTime('1412123850', 'Tue Sep 30 17:37:30 2014')).toBe('2014-10-01 00:37:30.000000');
    expect(osqueryCalendarTime(1462228052, null)).toBe('2016-05-02 22:27:32.000000');
    expect(osqueryCalendarTime(null, 'Tue Sep 30 17:37:30 2014 UTC')).toBe('2014-09-30 17:37:30.000000');
    expect(osqueryCalendarTime(null, 'Mon May  2 22:27:32 2016 UTC')).toBe('2016-05-02 22:27:32.000000');
    expect(osqueryCalendarTime('', 'Tue Sep 30 17:37:30 2014')).toBe('2014-09-30 17:37:30.000000');
    expect(osqueryCalendarTime('99999999999999', 'garbage')).toBeNull();
    expect(osqueryCalendarTime(null, 'Tue Feb 30 17:37:30 2014')).toBeNull();
    expect(osqueryCalendarTime(null, null)).toBeNull();
  });
});

describe('flattenOsqueryResult', () => {
  it('event lines: one row with its action and the metadata columns', () => {
    const [added, removed, modern] = recordsOf('event-format.ndjson');
    expect(flattenOsqueryResult(added as OsqueryRecord)).toEqual({
      kind: 'event',
      familyName: 'processes',
      originalName: 'processes',
      columnNames: ['name', 'path', 'pid'],
      decorationKeys: [],
      rows: [
        {
          host_identifier: 'hostname.local',
          calendar_time: '2014-10-01 00:37:30.000000',
          action: 'added',
          epoch: '314159265',
          counter: '1',
          name: 'osqueryd',
          path: '/opt/osquery/bin/osqueryd',
          pid: '97830',
        },
      ],
    });
    expect(flattenOsqueryResult(removed as OsqueryRecord).rows[0]?.['action']).toBe('removed');
    const flat = flattenOsqueryResult(modern as OsqueryRecord);
    expect(flat.familyName).toBe('pack_incident_response_processes');
    expect(flat.originalName).toBe('pack_incident-response_processes');
    expect(flat.decorationKeys).toEqual(['host_uuid', 'username']);
    expect(flat.rows[0]).toMatchObject({
      host_identifier: 'web-01.prod.example.com',
      calendar_time: '2024-03-13 09:15:02.000000',
      epoch: 0,
      counter: 42,
      pid: '1190',
      decorations_host_uuid: '4C4C4544-0051-4810-8036-B7C04F4E4D32',
      decorations_username: 'root',
    });
  });

  it('batch lines: the added rows, then the removed rows, each with its action', () => {
    const [batch, addedOnly] = recordsOf('batch-format.ndjson');
    const flat = flattenOsqueryResult(batch as OsqueryRecord);
    expect(flat.rows.map((r) => [r['action'], r['pid']])).toEqual([['added', '97830'], ['removed', '97650']]);
    expect(flat.rows[0]?.['calendar_time']).toBe('2014-10-01 00:37:30.000000');
    expect(flattenOsqueryResult(addedOnly as OsqueryRecord).rows.map((r) => r['action'])).toEqual(['added']);
    expect(flattenOsqueryResult(one({ name: 'p', diffResults: {} })).rows).toEqual([]);
  });

  it('snapshot lines: every row, with action "snapshot"', () => {
    const [mounts, processes] = recordsOf('snapshot-format.ndjson');
    const flat = flattenOsqueryResult(mounts as OsqueryRecord);
    expect(flat.familyName).toBe('mounts');
    expect(flat.rows.map((r) => r['path'])).toEqual(['/', '/proc', '/dev/shm']);
    expect(flat.rows.every((r) => r['action'] === 'snapshot')).toBe(true);
    expect(flattenOsqueryResult(processes as OsqueryRecord).rows).toHaveLength(4);
    expect(flattenOsqueryResult(one({ name: 'p', snapshot: [] })).rows).toEqual([]);
  });

  it('status lines go to osquery_status', () => {
    const [info] = recordsOf('status.ndjson');
    expect(flattenOsqueryResult(info as OsqueryRecord)).toEqual({
      kind: 'status',
      familyName: 'osquery_status',
      originalName: 'osquery_status',
      columnNames: [],
      decorationKeys: ['host_uuid'],
      rows: [
        {
          host_identifier: 'web-01.prod.example.com',
          calendar_time: '2024-03-13 09:14:58.000000',
          severity: 0,
          filename: 'scheduler.cpp',
          line: 83,
          message: 'Executing scheduled query pack_incident-response_processes: SELECT * FROM processes',
          version: '5.11.0',
          decorations_host_uuid: '4C4C4544-0051-4810-8036-B7C04F4E4D32',
        },
      ],
    });
  });

  it('renames columns that collide with reserved and metadata names, never drops them', () => {
    const [record] = recordsOf('decorations-top-level.ndjson');
    const flat = flattenOsqueryResult(record as OsqueryRecord);
    expect(flat.rows[0]).toEqual({
      host_identifier: 'db-01',
      calendar_time: '2024-03-13 11:00:00.000000',
      action: 'added',
      epoch: 0,
      counter: 0,
      osquery_id: '7',
      osquery_action: 'login',
      osquery_host_identifier: 'spoofed',
      osquery__ingested_at: 'never',
      osquery_osquery_id: 'x',
      osquery_decorations_x: 'y',
      uid: '0',
      decorations_host_uuid: '0B1F2C3D-4E5F-6071-8293-A4B5C6D7E8F9',
      decorations_environment: 'production',
    });
    for (const name of Object.keys(flat.rows[0] ?? {})) expect(() => validateFieldName(name)).not.toThrow();
  });

  it('refuses two columns that would be one column, naming the line', () => {
    const error = appErrorOf(() => flattenOsqueryResult(one({ name: 'p', action: 'added', columns: { Name: 'a', name: 'b' } })));
    expect(error.code).toBe('INVALID_FIELD_NAME');
    expect(error.message).toMatch(/^line 1: columns "name" and "Name" would be the same column/);
    expect(error.details).toMatchObject({ line: 1, field: 'name', collidesWith: 'Name' });
    expect(appErrorOf(() => flattenOsqueryResult(one({ name: 'p', snapshot: [], decorations: { Host: 'a', host: 'b' } }))).code).toBe('INVALID_FIELD_NAME');
  });
});

describe('from lines to cells', () => {
  it('decides the fields from the specs and binds every value leniently, exactly for unsigned 64-bit', () => {
    const records = recordsOf('numerics.ndjson');
    const flat = flattenOsqueryResult(records[1] as OsqueryRecord);
    const { fields, table } = decideOsqueryColumns(flat.originalName, flat.columnNames, undefined, { decorationKeys: flat.decorationKeys });
    expect(table).toBe('apparmor_events');
    const { columns, rows, notes } = osqueryRowsToCells(fields, flat.rows);
    const row = Object.fromEntries(columns.map((c, i) => [c, rows[0]?.[i]]));
    expect(row).toMatchObject({ epoch: '18446744073709551615', counter: 7, pid: '18446744073709551615', parent: 1, comm: 'cupsd', time: 1710321360 });
    expect(notes).toEqual([]);
  });

  it('"" in a typed column is NULL; a value that does not fit is NULL and noted, never an error', () => {
    const [, , , users] = recordsOf('event-format.ndjson');
    const flat = flattenOsqueryResult(users as OsqueryRecord);
    const { fields } = decideOsqueryColumns(flat.originalName, flat.columnNames, undefined, { decorationKeys: flat.decorationKeys });
    const odd = { ...flat.rows[0], uid: '', gid: 'nobody' };
    const { columns, rows, notes } = osqueryRowsToCells(fields, [odd]);
    const row = Object.fromEntries(columns.map((c, i) => [c, rows[0]?.[i]]));
    expect(row).toMatchObject({ uid: null, gid: null, username: 'www-data', uuid: '' });
    expect(notes).toEqual([{ row: 0, field: 'gid', change: 'nulled' }]);
  });

  it('status rows bind to the status fields', () => {
    const [, warning] = recordsOf('status.ndjson');
    const flat = flattenOsqueryResult(warning as OsqueryRecord);
    const { columns, rows } = osqueryRowsToCells(osqueryStatusFields(flat.decorationKeys), flat.rows);
    expect(columns).toEqual(['host_identifier', 'calendar_time', 'severity', 'filename', 'line', 'message', 'version']);
    expect(rows[0]?.slice(0, 5)).toEqual(['web-01.prod.example.com', '2024-03-13 09:15:01.000000', 1, 'watcher.cpp', 536]);
  });
});
