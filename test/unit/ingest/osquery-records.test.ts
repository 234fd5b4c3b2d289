import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJsonLossless, JsonSyntaxError } from '../../../src/ingest/osquery-json.js';
import {
  osqueryErrorsToAppError,
  parseOsqueryLines,
  parseOsqueryTlsBody,
  readOsqueryValues,
  type OsqueryBatchRecord,
  type OsqueryEventRecord,
  type OsquerySnapshotRecord,
  type OsqueryStatusRecord,
} from '../../../src/ingest/osquery-records.js';
import { codeOf } from '../../helpers/app-error.js';

const FIXTURES = path.resolve(import.meta.dirname, '../../fixtures/osquery');
const fixture = (name: string): string => readFileSync(path.join(FIXTURES, name), 'utf8');

describe('parseJsonLossless', () => {
  it('keeps integers beyond 2^53 as their digits and parses the rest like JSON.parse', () => {
    const text = '{"a":18446744073709551615,"b":-9223372036854775808,"c":1.5,"d":[1,true,null,"x\\u00e9\\n"],"e":1e300}';
    expect(parseJsonLossless(text)).toEqual({ a: '18446744073709551615', b: '-9223372036854775808', c: 1.5, d: [1, true, null, 'xé\n'], e: 1e300 });
    const proto = parseJsonLossless('{"__proto__":{"x":1}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.keys(proto)).toEqual(['__proto__']);
  });

  it('reports the line and column of a syntax error, and refuses deep nesting', () => {
    try {
      parseJsonLossless('{\n"a": tru}');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(JsonSyntaxError);
      expect((error as JsonSyntaxError).line).toBe(2);
    }
    expect(() => parseJsonLossless('[[[1]]]', { maxDepth: 2 })).toThrow(/nesting deeper than 2/);
    for (const bad of ['', '{', '{"a":1,}', '[1 2]', '"\u0001"', '01', '{"a":1} x', "{'a':1}"]) {
      expect(() => parseJsonLossless(bad)).toThrow(JsonSyntaxError);
    }
  });
});

describe('parseOsqueryLines: the result formats', () => {
  it('reads event lines, legacy "hostname" and modern numbers alike', () => {
    const { records, errors } = parseOsqueryLines(fixture('event-format.ndjson'));
    expect(errors).toEqual([]);
    expect(records.map((r) => r.kind)).toEqual(['event', 'event', 'event', 'event', 'event']);
    const [first, second, third] = records as OsqueryEventRecord[];
    expect(first).toMatchObject({
      index: 0,
      line: 1,
      name: 'processes',
      action: 'added',
      hostIdentifier: 'hostname.local',
      calendarTime: 'Tue Sep 30 17:37:30 2014',
      unixTime: '1412123850',
      epoch: '314159265',
      counter: '1',
      numerics: false,
      decorations: {},
      columns: { name: 'osqueryd', path: '/opt/osquery/bin/osqueryd', pid: '97830' },
    });
    expect(second?.action).toBe('removed');
    expect(third).toMatchObject({
      name: 'pack_incident-response_processes',
      hostIdentifier: 'web-01.prod.example.com',
      unixTime: 1710321302,
      epoch: 0,
      counter: 42,
      decorations: { host_uuid: '4C4C4544-0051-4810-8036-B7C04F4E4D32', username: 'root' },
    });
  });

  it('reads batch lines with their added and removed rows', () => {
    const { records, errors } = parseOsqueryLines(fixture('batch-format.ndjson'));
    expect(errors).toEqual([]);
    const [batch, second] = records as OsqueryBatchRecord[];
    expect(batch?.kind).toBe('batch');
    expect(batch?.added).toEqual([{ name: 'osqueryd', path: '/opt/osquery/bin/osqueryd', pid: '97830' }]);
    expect(batch?.removed).toEqual([{ name: 'osqueryd', path: '/opt/osquery/bin/osqueryd', pid: '97650' }]);
    expect(second?.removed).toEqual([]);
  });

  it('reads snapshot lines', () => {
    const { records, errors } = parseOsqueryLines(fixture('snapshot-format.ndjson'));
    expect(errors).toEqual([]);
    const [mounts, processes] = records as OsquerySnapshotRecord[];
    expect(mounts?.kind).toBe('snapshot');
    expect(mounts?.snapshot).toHaveLength(3);
    expect(processes?.snapshot.map((r) => r['pid'])).toEqual(['1', '51', '52', '54']);
  });

  it('reads status lines', () => {
    const { records, errors } = parseOsqueryLines(fixture('status.ndjson'));
    expect(errors).toEqual([]);
    const statuses = records as OsqueryStatusRecord[];
    expect(statuses.map((r) => r.kind)).toEqual(['status', 'status', 'status']);
    expect(statuses[0]?.status).toEqual({
      severity: 0,
      filename: 'scheduler.cpp',
      line: 83,
      message: 'Executing scheduled query pack_incident-response_processes: SELECT * FROM processes',
      version: '5.11.0',
    });
    expect(statuses[0]?.decorations).toEqual({ host_uuid: '4C4C4544-0051-4810-8036-B7C04F4E4D32' });
  });

  it('keeps --logger_numerics numbers, and unsigned 64-bit values exact', () => {
    const { records, errors } = parseOsqueryLines(fixture('numerics.ndjson'));
    expect(errors).toEqual([]);
    const [ports, apparmor] = records as OsqueryEventRecord[];
    expect(ports?.numerics).toBe(true);
    expect(ports?.columns['port']).toBe(8443);
    expect(apparmor?.columns['pid']).toBe('18446744073709551615');
    expect(apparmor?.epoch).toBe('18446744073709551615');
  });

  it('reads top-level scalar keys as decorations (--decorations_top_level), ignoring shipper objects', () => {
    const { records } = parseOsqueryLines(fixture('decorations-top-level.ndjson'));
    expect(records[0]?.decorations).toEqual({ host_uuid: '0B1F2C3D-4E5F-6071-8293-A4B5C6D7E8F9', environment: 'production' });
  });

  it('reads a JSON array of records, each with the line where it starts', () => {
    const lines = fixture('event-format.ndjson').trim().split('\n');
    const text = `[\n${lines.join(',\n')}\n]`;
    const { records, errors } = parseOsqueryLines(text);
    expect(errors).toEqual([]);
    expect(records.map((r) => [r.index, r.line])).toEqual([[0, 2], [1, 3], [2, 4], [3, 5], [4, 6]]);
    expect(parseOsqueryLines('[]')).toEqual({ records: [], errors: [] });
  });

  it('takes an array of lines, CRLF line ends and blank lines', () => {
    const line = '{"name":"p","action":"added","columns":{"pid":"1"}}';
    expect(parseOsqueryLines([line, '', line]).records.map((r) => r.line)).toEqual([1, 3]);
    expect(parseOsqueryLines(`${line}\r\n\r\n${line}\r\n`).records.map((r) => [r.index, r.line])).toEqual([[0, 1], [1, 3]]);
  });
});

describe('parseOsqueryLines: bad lines', () => {
  it('names the line of every bad record and keeps the good ones', () => {
    const { records, errors } = parseOsqueryLines(fixture('malformed.ndjson'));
    expect(records).toHaveLength(1);
    expect(errors.map((e) => [e.line, e.code])).toEqual([
      [2, 'INVALID_JSON'],
      [4, 'BAD_USER_INPUT'],
      [5, 'BAD_USER_INPUT'],
      [6, 'BAD_USER_INPUT'],
      [7, 'BAD_USER_INPUT'],
    ]);
    expect(errors[0]?.message).toMatch(/^line 2: not valid JSON: .*one JSON object per line/);
    expect(errors[1]?.message).toBe('line 4: expected an osquery result or status object, found an array');
    expect(errors[2]?.message).toMatch(/^line 5: an event result needs "action": "added", "removed" or "snapshot"; found "changed"/);
    expect(errors[3]?.message).toMatch(/^line 6: this is not an osquery record/);
    expect(errors[4]?.message).toMatch(/^line 7: column "pid" of snapshot\[0\] holds an object/);
  });

  it('refuses results without a name, and bad field shapes', () => {
    const bad = [
      { columns: { pid: '1' }, action: 'added' },
      { name: '', snapshot: [] },
      { name: 'p', diffResults: [] },
      { name: 'p', snapshot: {} },
      { name: 'p', snapshot: [], decorations: 'x' },
      { name: 'p', snapshot: [], hostIdentifier: { a: 1 } },
      { name: 'p', snapshot: [], unixTime: [1] },
      { name: 'p', diffResults: { added: {} } },
    ];
    const { records, errors } = readOsqueryValues(bad);
    expect(records).toEqual([]);
    expect(errors.map((e) => e.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(errors.every((e) => e.code === 'BAD_USER_INPUT')).toBe(true);
    expect(errors[0]?.message).toMatch(/needs "name"/);
  });

  it('reports a broken JSON array as one error with its line', () => {
    const { records, errors } = parseOsqueryLines('[\n{"name":"p","snapshot":[]},\n{"name":\n]');
    expect(records).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'INVALID_JSON', line: 4 });
  });

  it('turns the errors into one AppError with a registered code and the first 20 errors', () => {
    const { errors } = parseOsqueryLines(fixture('malformed.ndjson'));
    const error = osqueryErrorsToAppError(errors);
    expect(error.code).toBe('INVALID_JSON');
    expect(error.message).toMatch(/^line 2: .*\(and 4 more bad records; nothing was written\)$/);
    expect(error.details).toMatchObject({ line: 2, index: 1 });
    expect((error.details['errors'] as unknown[]).length).toBe(5);
  });
});

describe('parseOsqueryTlsBody', () => {
  it('reads the TLS logger body', () => {
    const log = parseOsqueryTlsBody(fixture('tls-body.json'));
    expect(log.nodeKey).toBe('c2f1e9b0-5a1d-4e3c-9a77-1f2e3d4c5b6a');
    expect(log.logType).toBe('result');
    expect(log.errors).toEqual([]);
    expect(log.records.map((r) => r.kind)).toEqual(['event', 'snapshot']);
  });

  it('refuses other bodies with INVALID_JSON or BAD_USER_INPUT', () => {
    expect(codeOf(() => parseOsqueryTlsBody('{'))).toBe('INVALID_JSON');
    expect(codeOf(() => parseOsqueryTlsBody('[]'))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => parseOsqueryTlsBody('{"log_type":"other","data":[]}'))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => parseOsqueryTlsBody('{"log_type":"result","data":{}}'))).toBe('BAD_USER_INPUT');
  });
});
