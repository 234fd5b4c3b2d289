/**
 * One osquery request (its checked records) -> one batch per family: the
 * family's fields as osquery's specs decide them, its rows and each record's
 * raw copy; and, once the family's stored columns are known, the INSERT
 * statements of its rows and raw copies. Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import type { DeclaredField } from '../schema/declared-schema.js';
import { columnNameKey, INGESTED_AT_COLUMN, RAW_COLUMN } from '../schema/identifiers.js';
import { decideOsqueryColumns, osqueryStatusFields, type OsqueryField } from '../schema/osquery-columns.js';
import { quoteString, sqlLiteral } from '../schema/sql-literal.js';
import type { StatementParts } from '../shards/write-transaction.js';
import { buildInsertStatements } from './insert-sql.js';
import { flattenOsqueryResult, osqueryRowsToCells, type OsqueryCellNote } from './osquery-flatten.js';
import type { OsqueryRecord, OsqueryScalar } from './osquery-records.js';

/** The rows of one family in one request. */
export interface OsqueryFamilyBatch {
  /** The family as the naming rules make it (the caller may move it, see {@link renameBatch}). */
  family: string;
  /** The query name as sent (`osquery_status` for status logs). */
  originalName: string;
  /** Every field the rows use, first decision wins per column (columnNameKey). */
  fields: OsqueryField[];
  rows: Array<Record<string, OsqueryScalar>>;
  /** One raw copy (JSON text) per record. */
  raws: string[];
  /** Per row: the raw copy its record stores in that row's `_raw` (the record's first row only), else null. */
  rowRaws: Array<string | null>;
}

/**
 * Records -> batches by family, in first-seen order. `rawOf(record)` gives
 * a record's raw copy. Throws flattenOsqueryResult's INVALID_FIELD_NAME.
 */
export function groupOsqueryRecords(records: readonly OsqueryRecord[], rawOf: (record: OsqueryRecord) => string): OsqueryFamilyBatch[] {
  const batches = new Map<string, OsqueryFamilyBatch & { byKey: Map<string, OsqueryField> }>();
  for (const record of records) {
    const flat = flattenOsqueryResult(record);
    let batch = batches.get(flat.familyName);
    if (batch === undefined) {
      batch = { family: flat.familyName, originalName: flat.originalName, fields: [], rows: [], raws: [], rowRaws: [], byKey: new Map() };
      batches.set(flat.familyName, batch);
    }
    const decided =
      flat.kind === 'status'
        ? osqueryStatusFields(flat.decorationKeys)
        : decideOsqueryColumns(flat.originalName, flat.columnNames, undefined, { decorationKeys: flat.decorationKeys }).fields;
    for (const field of decided) {
      const key = columnNameKey(field.name);
      if (!batch.byKey.has(key)) {
        batch.byKey.set(key, field);
        batch.fields.push(field);
      }
    }
    const raw = rawOf(record);
    let firstRow = true;
    for (const row of flat.rows) {
      batch.rowRaws.push(firstRow ? raw : null);
      firstRow = false;
      // A column spelled with other letter cases by another record of the request goes to the first spelling.
      let renamed: Record<string, OsqueryScalar> | undefined;
      for (const name of Object.keys(row)) {
        const field = batch.byKey.get(columnNameKey(name));
        if (field !== undefined && field.name !== name) {
          renamed ??= { ...row };
          renamed[field.name] = row[name] ?? null;
          delete renamed[name];
        }
      }
      batch.rows.push(renamed ?? row);
    }
    batch.raws.push(raw);
  }
  return [...batches.values()].map(({ byKey: _byKey, ...batch }) => batch);
}

/** The batch's fields as the columns a lenient prepare asks for. */
export function batchDeclaredFields(batch: OsqueryFamilyBatch): DeclaredField[] {
  return batch.fields.map((f) => ({ name: f.name, type: f.type }));
}

/** What {@link buildOsqueryStatements} makes. */
export interface OsqueryStatements {
  /** The columns written, as stored (stored names and types). */
  columns: DeclaredField[];
  statements: StatementParts[];
  /** SHA-256 (hex) of the family, the columns and every raw copy: what makes two requests the same. */
  contentHash: string;
  /** Values not stored as sent (nulled, truncated). */
  notes: OsqueryCellNote[];
}

/**
 * The INSERTs of a batch's rows (into `family`, the stored columns'
 * names, each value leniently coerced to the stored type: stored types win)
 * and, when `rawLogs`, of its raw copies. `stored` must hold every field of
 * the batch (by columnNameKey), as a lenient prepare answers.
 */
export function buildOsqueryStatements(
  family: string,
  batch: OsqueryFamilyBatch,
  stored: readonly DeclaredField[],
  now: string,
  rawLogs: boolean,
): OsqueryStatements {
  const byKey = new Map(stored.map((f) => [columnNameKey(f.name), f]));
  const columns = batch.fields.map((field) => {
    const column = byKey.get(columnNameKey(field.name));
    if (column === undefined) throw new Error(`column ${field.name} of ${family} is not stored`);
    return column;
  });
  // Cells read each row by the batch's own field names, typed as stored.
  const cells = osqueryRowsToCells(
    batch.fields.map((field, i) => ({ name: field.name, type: (columns[i] as DeclaredField).type })),
    batch.rows,
  );
  const nowLiteral = quoteString(now);
  // The raw copy is the `_raw` column of its record's first row (raw_logs is a view over it): one INSERT.
  // A record without rows (an empty snapshot) has no row to hold its raw copy, so it keeps none.
  const tuples = cells.rows.map(
    (row, i) => {
      const raw = batch.rowRaws[i] ?? null;
      return `(${[...row.map(sqlLiteral), nowLiteral, ...(rawLogs ? [raw === null ? 'NULL' : quoteString(raw)] : [])].join(',')})`;
    },
  );
  const hash = createHash('sha256').update(`${JSON.stringify([family, columns])}\n`);
  for (const raw of batch.raws) hash.update(`${raw}\n`);
  return {
    columns,
    statements: buildInsertStatements(family, [...columns.map((c) => c.name), INGESTED_AT_COLUMN, ...(rawLogs ? [RAW_COLUMN] : [])], tuples),
    contentHash: hash.digest('hex'),
    notes: cells.notes,
  };
}
