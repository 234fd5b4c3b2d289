import { describe, expect, it } from 'vitest';
import { validateFamilyName, validateFieldName } from '../../../src/schema/identifiers.js';
import {
  OSQUERY_STATUS_FAMILY,
  osqueryColumnName,
  osqueryDecorationColumn,
  osqueryFamilyName,
  shortHash,
} from '../../../src/schema/osquery-names.js';
import { codeOf } from '../../helpers/app-error.js';

describe('osqueryFamilyName', () => {
  it('replaces every character outside [A-Za-z0-9_] with _', () => {
    expect(osqueryFamilyName('pack_incident-response_processes')).toBe('pack_incident_response_processes');
    expect(osqueryFamilyName('processes')).toBe('processes');
    expect(osqueryFamilyName('pack/it.sec ops:users')).toBe('pack_it_sec_ops_users');
    expect(osqueryFamilyName('prozesse_für_ü')).toBe('prozesse_f_r__');
    expect(osqueryFamilyName('emoji_🔥')).toBe('emoji__'); // one code point, one _
  });

  it('shortens names past 64 characters with a hash of the original name, deterministically', () => {
    const long = `pack_${'very-long-pack-name_'.repeat(5)}processes`;
    const family = osqueryFamilyName(long);
    expect(family).toHaveLength(64);
    expect(family).toBe(`${long.replace(/-/g, '_').slice(0, 55)}_${shortHash(long)}`);
    expect(osqueryFamilyName(long)).toBe(family);
    // Two long names with the same first 55 characters stay apart.
    expect(osqueryFamilyName(`${long}_a`)).not.toBe(osqueryFamilyName(`${long}_b`));
    expect(osqueryFamilyName('x'.repeat(64))).toBe('x'.repeat(64));
  });

  it('moves names the gateway reserves out of the way with an osquery_ prefix', () => {
    expect(osqueryFamilyName('raw_logs')).toBe('osquery_raw_logs');
    expect(osqueryFamilyName('RAW-LOGS')).toBe('osquery_RAW_LOGS');
    expect(osqueryFamilyName('databalancer_catalog')).toBe('osquery_databalancer_catalog');
    expect(osqueryFamilyName('seq_1_to_10')).toBe('osquery_seq_1_to_10');
  });

  it('never gives a query the status family', () => {
    const family = osqueryFamilyName('osquery_status');
    expect(family).not.toBe(OSQUERY_STATUS_FAMILY);
    expect(family).toBe(`osquery_status_${shortHash('osquery_status')}`);
    expect(osqueryFamilyName('OSQUERY-STATUS').toLowerCase()).not.toBe(OSQUERY_STATUS_FAMILY);
  });

  it('with hashed: true tells apart names that map to the same plain family', () => {
    expect(osqueryFamilyName('a-b')).toBe(osqueryFamilyName('a.b'));
    expect(osqueryFamilyName('a-b', { hashed: true })).not.toBe(osqueryFamilyName('a.b', { hashed: true }));
    expect(osqueryFamilyName('a-b', { hashed: true })).toBe(`a_b_${shortHash('a-b')}`);
  });

  it('always gives a valid family name', () => {
    for (const name of ['x', 'raw_logs', 'a'.repeat(300), '---', 'databalancer_x', 'seq_0_to_10_step_2', '日本語のクエリ', 'osquery_status']) {
      expect(() => validateFamilyName(osqueryFamilyName(name))).not.toThrow();
    }
  });

  it('refuses an empty or missing name with INVALID_FAMILY_NAME', () => {
    expect(codeOf(() => osqueryFamilyName(''))).toBe('INVALID_FAMILY_NAME');
    expect(codeOf(() => osqueryFamilyName(undefined as unknown as string))).toBe('INVALID_FAMILY_NAME');
  });
});

describe('osqueryColumnName', () => {
  it('keeps ordinary osquery column names', () => {
    for (const name of ['pid', 'name', 'cmdline', 'count(*)', 'p.pid', 'Name']) expect(osqueryColumnName(name)).toBe(name);
  });

  it('renames reserved and metadata names with osquery_ (any case), never drops them', () => {
    expect(osqueryColumnName('id')).toBe('osquery_id');
    expect(osqueryColumnName('ID')).toBe('osquery_ID');
    expect(osqueryColumnName('_ingested_at')).toBe('osquery__ingested_at');
    expect(osqueryColumnName('action')).toBe('osquery_action');
    expect(osqueryColumnName('host_identifier')).toBe('osquery_host_identifier');
    expect(osqueryColumnName('calendar_time')).toBe('osquery_calendar_time');
    expect(osqueryColumnName('epoch')).toBe('osquery_epoch');
    expect(osqueryColumnName('counter')).toBe('osquery_counter');
    expect(osqueryColumnName('__proto__')).toBe('osquery___proto__');
  });

  it('renames names in the osquery_ and decorations_ namespaces, so renamed columns never collide', () => {
    expect(osqueryColumnName('osquery_id')).toBe('osquery_osquery_id');
    expect(osqueryColumnName('decorations_host')).toBe('osquery_decorations_host');
    const names = ['id', 'osquery_id', 'osquery_osquery_id', 'action', 'osquery_action'];
    expect(new Set(names.map(osqueryColumnName)).size).toBe(names.length);
  });

  it('makes names MySQL refuses valid', () => {
    expect(osqueryColumnName('')).toBe('_');
    expect(osqueryColumnName('name ')).toBe('name_');
    expect(osqueryColumnName('   ')).toBe('___');
    expect(osqueryColumnName('a\u0000b')).toBe('a_b');
    expect(osqueryColumnName('fire🔥')).toBe('fire_');
    const long = osqueryColumnName('c'.repeat(80));
    expect(long).toBe(`${'c'.repeat(55)}_${shortHash('c'.repeat(80))}`);
    for (const name of ['', 'name ', '   ', 'a\u0000b', 'fire🔥', 'c'.repeat(80), 'id', '__proto__', 'x\uD800']) {
      expect(() => validateFieldName(osqueryColumnName(name))).not.toThrow();
    }
  });
});

describe('osqueryDecorationColumn', () => {
  it('is decorations_<key>, valid and shortened when long', () => {
    expect(osqueryDecorationColumn('host_uuid')).toBe('decorations_host_uuid');
    expect(osqueryDecorationColumn('id')).toBe('decorations_id');
    expect(Array.from(osqueryDecorationColumn('k'.repeat(70)))).toHaveLength(64);
    expect(() => validateFieldName(osqueryDecorationColumn('k'.repeat(70)))).not.toThrow();
  });
});
