/**
 * osquery records -> rows of their family: one row per osquery row (a
 * snapshot expanded, a batch's added and removed rows each with its
 * action), keyed by column name after the renaming rules, with the metadata
 * columns; and those rows -> cells bound into an INSERT. Pure.
 */
import { AppError } from '../errors/app-error.js';
import { columnNameKey } from '../schema/identifiers.js';
import type { OsqueryField } from '../schema/osquery-columns.js';
import { OSQUERY_METADATA_COLUMNS, OSQUERY_STATUS_FAMILY, osqueryColumnName, osqueryDecorationColumn, osqueryFamilyName } from '../schema/osquery-names.js';
import { osqueryCell, type OsqueryCellChange } from '../schema/osquery-types.js';
import { formatDateTime, parseEpochSeconds, type UtcInstant } from '../schema/time.js';
import type { OsqueryRecord, OsqueryRow, OsqueryScalar } from './osquery-records.js';

/** One record's rows. */
export interface FlattenedOsquery {
  kind: OsqueryRecord['kind'];
  /** The family: osqueryFamilyName(name), or `osquery_status`. */
  familyName: string;
  /** The query name as sent (`osquery_status` for status logs). */
  originalName: string;
  /** The osquery columns of the rows, as sent, in first-seen order (empty for status logs). */
  columnNames: string[];
  /** The decoration keys, as sent. */
  decorationKeys: string[];
  /** Column name (after renaming) -> value as sent; metadata included. */
  rows: Array<Record<string, OsqueryScalar>>;
}

const MONTHS: Readonly<Record<string, number>> = { Jan: 1, Feb: 2, Mar: 3, Apr: 4, May: 5, Jun: 6, Jul: 7, Aug: 8, Sep: 9, Oct: 10, Nov: 11, Dec: 12 };
const CALENDAR_PATTERN = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})(?: UTC)?$/;

/**
 * The record's time as DATETIME(6) text (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC):
 * from `unixTime` (epoch seconds), else from `calendarTime` (osquery's
 * `Tue Sep 30 17:37:30 2014 UTC`, " UTC" optional: always UTC), else null.
 *
 * @example osqueryCalendarTime('1412123850', null) // => '2014-10-01 00:37:30.000000'
 * @example osqueryCalendarTime(null, 'Mon May  2 22:27:32 2016 UTC') // => '2016-05-02 22:27:32.000000'
 */
export function osqueryCalendarTime(unixTime: string | number | null, calendarTime: string | null): string | null {
  if (unixTime !== null && unixTime !== '') {
    try {
      const instant = parseEpochSeconds(String(unixTime));
      if (instant !== undefined) return formatDateTime(instant);
    } catch {
      // Out of DATETIME's range: try calendarTime.
    }
  }
  const m = calendarTime === null ? null : CALENDAR_PATTERN.exec(calendarTime.trim());
  if (m === null) return null;
  const [, mon, day, hour, minute, second, year] = m;
  const instant: UtcInstant = {
    year: Number(year),
    month: MONTHS[mon as string] as number,
    day: Number(day),
    hour: Number(hour),
    minute: Number(minute),
    second: Number(second),
    micros: 0,
  };
  const check = new Date(Date.UTC(instant.year, instant.month - 1, instant.day, instant.hour, instant.minute, instant.second));
  if (check.getUTCDate() !== instant.day || instant.hour > 23 || instant.minute > 59 || instant.second > 59 || instant.year < 1000) return null;
  return formatDateTime(instant);
}

function collisionError(record: OsqueryRecord, a: string, b: string, what: string): AppError {
  return new AppError(
    'INVALID_FIELD_NAME',
    `line ${record.line}: ${what} "${a}" and "${b}" would be the same column (column names ignore case); alias one of them apart in the osquery query`,
    { line: record.line, index: record.index, field: a, collidesWith: b },
  );
}

/**
 * One record -> its family and rows.
 *
 * Result rows: `host_identifier`, `calendar_time` (see
 * {@link osqueryCalendarTime}), `action` ("added", "removed", "snapshot"),
 * `epoch`, `counter` (as sent), the osquery columns (renamed by
 * osqueryColumnName: `id` -> `osquery_id`, ...), and `decorations_<key>`.
 * Status rows: `host_identifier`, `calendar_time`, `severity`, `filename`,
 * `line`, `message`, `version`, `decorations_<key>`. A batch gives its
 * added rows, then its removed rows; an empty snapshot or diff gives none.
 *
 * @throws AppError INVALID_FIELD_NAME `{ line, index, field, collidesWith }`
 *   when two columns (or decorations) would be one column.
 */
export function flattenOsqueryResult(record: OsqueryRecord): FlattenedOsquery {
  const calendarTime = osqueryCalendarTime(record.unixTime, record.calendarTime);
  const decorationKeys = Object.keys(record.decorations);
  const decorationCells: Record<string, OsqueryScalar> = {};
  const decorationSeen = new Map<string, string>();
  for (const key of decorationKeys) {
    const column = osqueryDecorationColumn(key);
    const other = decorationSeen.get(columnNameKey(column));
    if (other !== undefined) throw collisionError(record, key, other, 'decorations');
    decorationSeen.set(columnNameKey(column), key);
    decorationCells[column] = record.decorations[key] ?? null;
  }

  if (record.kind === 'status') {
    const s = record.status;
    return {
      kind: 'status',
      familyName: OSQUERY_STATUS_FAMILY,
      originalName: OSQUERY_STATUS_FAMILY,
      columnNames: [],
      decorationKeys,
      rows: [
        {
          [OSQUERY_METADATA_COLUMNS.hostIdentifier]: record.hostIdentifier,
          [OSQUERY_METADATA_COLUMNS.calendarTime]: calendarTime,
          severity: s.severity,
          filename: s.filename,
          line: s.line,
          message: s.message,
          version: s.version,
          ...decorationCells,
        },
      ],
    };
  }

  const sources: Array<{ action: string; row: OsqueryRow }> =
    record.kind === 'event'
      ? [{ action: record.action, row: record.columns }]
      : record.kind === 'snapshot'
        ? record.snapshot.map((row) => ({ action: 'snapshot', row }))
        : [...record.added.map((row) => ({ action: 'added', row })), ...record.removed.map((row) => ({ action: 'removed', row }))];

  const columnNames: string[] = [];
  const renamed = new Map<string, string>();
  const byKey = new Map<string, string>();
  for (const key of decorationSeen.keys()) byKey.set(key, `decoration ${decorationSeen.get(key) ?? ''}`);
  const rows = sources.map(({ action, row }) => {
    const out: Record<string, OsqueryScalar> = {
      [OSQUERY_METADATA_COLUMNS.hostIdentifier]: record.hostIdentifier,
      [OSQUERY_METADATA_COLUMNS.calendarTime]: calendarTime,
      [OSQUERY_METADATA_COLUMNS.action]: action,
      [OSQUERY_METADATA_COLUMNS.epoch]: record.epoch,
      [OSQUERY_METADATA_COLUMNS.counter]: record.counter,
    };
    for (const column of Object.keys(row)) {
      let name = renamed.get(column);
      if (name === undefined) {
        name = osqueryColumnName(column);
        const key = columnNameKey(name);
        const other = byKey.get(key);
        if (other !== undefined) throw collisionError(record, column, other, 'columns');
        byKey.set(key, column);
        renamed.set(column, name);
        columnNames.push(column);
      }
      out[name] = row[column] ?? null;
    }
    return Object.assign(out, decorationCells);
  });
  return { kind: record.kind, familyName: osqueryFamilyName(record.name), originalName: record.name, columnNames, decorationKeys, rows };
}

/** One value that was not stored as sent, for a warning or a metric. */
export interface OsqueryCellNote {
  row: number;
  field: string;
  change: OsqueryCellChange;
}

/**
 * Rows of one family -> the column list and one cell array per row (in
 * `fields` order), leniently (osqueryCell): never throws for a value; what
 * was nulled or truncated is listed in `notes`. Row keys without a field are
 * ignored (the caller passes the fields of every column the rows have).
 *
 * @example osqueryRowsToCells([{ name: 'pid', type: 'int', origin: 'column', source: 'pid' }], [{ pid: '42' }, { pid: '' }])
 *   // => { columns: ['pid'], rows: [[42], [null]], notes: [] }
 */
export function osqueryRowsToCells(
  fields: readonly Pick<OsqueryField, 'name' | 'type'>[],
  rows: ReadonlyArray<Record<string, OsqueryScalar>>,
): { columns: string[]; rows: Array<Array<string | number | boolean | null>>; notes: OsqueryCellNote[] } {
  const notes: OsqueryCellNote[] = [];
  const cells = rows.map((row, r) =>
    fields.map((field) => {
      const cell = osqueryCell(field.type, Object.hasOwn(row, field.name) ? row[field.name] : null);
      if (cell.change !== undefined) notes.push({ row: r, field: field.name, change: cell.change });
      return cell.value;
    }),
  );
  return { columns: fields.map((f) => f.name), rows: cells, notes };
}
