/**
 * Declared schemas: parsing the `"schema": {field: type}` object of a request
 * and merging it into the schema a family already has (README and docs/rest.md,
 * schema evolution). Pure: decides what to add or refuse, never runs DDL.
 */
import { AppError } from '../errors/app-error.js';
import { columnNameKey, validateFieldName } from './identifiers.js';
import { ACCEPTED_TYPE_NAMES, parseDeclaredType, type DeclaredType } from './type-mapping.js';

/** One declared field: its exact column name and canonical type. */
export interface DeclaredField {
  name: string;
  type: DeclaredType;
}

/** Options of {@link parseDeclaredSchema}. */
export interface ParseDeclaredSchemaOptions {
  /** Most fields a schema may declare; default {@link DEFAULT_MAX_COLUMNS}. */
  maxColumns?: number;
}

/**
 * Default cap on declared fields per family. InnoDB allows 1017 columns per
 * table and every family table also has `id` and `_ingested_at`, so a
 * configured cap must stay at or below 1015.
 */
export const DEFAULT_MAX_COLUMNS = 1000;

/** True for `{...}` objects as JSON.parse makes them (not arrays, class instances or null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function tooManyColumns(count: number, limit: number, what: string): AppError {
  return new AppError(
    'TOO_MANY_COLUMNS',
    `${what} ${count} fields, more than the limit of ${limit} columns per family; declare fewer fields or store nested data in a "json" field`,
    { limit, count },
  );
}

function caseCollision(field: string, other: string): AppError {
  return new AppError(
    'INVALID_FIELD_NAME',
    `fields "${field}" and "${other}" collide: MySQL column names ignore case (and accents here), so they would be the same column; keep one of them`,
    { field, collidesWith: other },
  );
}

/**
 * Parses and validates a request's declared schema.
 *
 * `schema` must be a plain JSON object mapping field name -> type name. Each
 * name passes {@link validateFieldName}; each type passes
 * {@link parseDeclaredType} (aliases, any case). Two names with the same
 * {@link columnNameKey} (equal ignoring case and accents) collide. Output order
 * is the object's key order (as JSON.parse keeps it: integer-like keys such as
 * "2" come first, an ECMAScript rule). An empty object yields `[]`.
 *
 * @throws AppError INVALID_SCHEMA (not an object `{ received }`; type not a
 *   string or unknown `{ field, type, accepted? }`), INVALID_FIELD_NAME
 *   (`{ field }`, or `{ field, collidesWith }` for a collision), TOO_MANY_COLUMNS
 *   (`{ limit, count }`).
 * @example parseDeclaredSchema({ name: 'string', Age: 'INTEGER' })
 *   // => [{ name: 'name', type: 'string' }, { name: 'Age', type: 'int' }]
 */
export function parseDeclaredSchema(schema: unknown, opts: ParseDeclaredSchemaOptions = {}): DeclaredField[] {
  const maxColumns = opts.maxColumns ?? DEFAULT_MAX_COLUMNS;
  if (!isPlainObject(schema)) {
    throw new AppError(
      'INVALID_SCHEMA',
      `"schema" must be a JSON object mapping each field name to a type, e.g. {"name": "string", "age": "int"}; received ${describeType(schema)}`,
      { received: describeType(schema) },
    );
  }
  const names = Object.keys(schema);
  if (names.length > maxColumns) throw tooManyColumns(names.length, maxColumns, 'the schema declares');

  const fields: DeclaredField[] = [];
  const seen = new Map<string, string>();
  for (const name of names) {
    validateFieldName(name);
    const rawType = schema[name];
    if (typeof rawType !== 'string') {
      throw new AppError(
        'INVALID_SCHEMA',
        `field "${name}" has ${describeType(rawType)} as its type; give the type as a string, one of: ${ACCEPTED_TYPE_NAMES.join(', ')}`,
        { field: name, type: rawType === null || typeof rawType !== 'object' ? (rawType ?? null) : describeType(rawType) },
      );
    }
    const type = parseDeclaredType(rawType);
    if (type === undefined) {
      const shown = rawType.length > 100 ? `${rawType.slice(0, 100)}...` : rawType;
      throw new AppError(
        'INVALID_SCHEMA',
        `field "${name}" has unknown type "${shown}"; use one of: ${ACCEPTED_TYPE_NAMES.join(', ')}`,
        { field: name, type: shown, accepted: ACCEPTED_TYPE_NAMES },
      );
    }
    const key = columnNameKey(name);
    const other = seen.get(key);
    if (other !== undefined) throw caseCollision(name, other);
    seen.set(key, name);
    fields.push({ name, type });
  }
  return fields;
}

/** Result of {@link mergeSchemas}. */
export interface MergedSchema {
  /** The stored fields in stored order, then the added ones in request order. */
  merged: DeclaredField[];
  /** Requested fields the stored schema lacks, in request order: the columns to add. */
  added: DeclaredField[];
}

/**
 * Merges a request's declared fields into a family's stored schema.
 *
 * A requested field matching a stored one (same {@link columnNameKey}) must
 * have exactly the stored name and the stored type. The column cap is checked
 * only when fields are added, so lowering the configured cap never makes an
 * existing family unwritable.
 *
 * @throws AppError INVALID_FIELD_NAME `{ field, existingField }` (same column,
 *   different spelling: the client must use the exact stored name) or
 *   `{ field, collidesWith }` (two requested fields collide); SCHEMA_CONFLICT
 *   (409) `{ field, storedType, requestedType }`; TOO_MANY_COLUMNS `{ limit, count }`.
 * @example mergeSchemas([{ name: 'a', type: 'int' }], [{ name: 'b', type: 'date' }], 1000)
 *   // => { merged: [a:int, b:date], added: [b:date] }
 */
export function mergeSchemas(
  stored: readonly DeclaredField[],
  requested: readonly DeclaredField[],
  maxColumns: number,
): MergedSchema {
  const storedByKey = new Map<string, DeclaredField>();
  for (const field of stored) storedByKey.set(columnNameKey(field.name), field);

  const added: DeclaredField[] = [];
  const addedByKey = new Map<string, DeclaredField>();
  for (const field of requested) {
    const key = columnNameKey(field.name);
    const existing = storedByKey.get(key);
    if (existing === undefined) {
      const twin = addedByKey.get(key);
      if (twin !== undefined) {
        if (twin.name === field.name && twin.type === field.type) continue;
        throw caseCollision(field.name, twin.name);
      }
      addedByKey.set(key, field);
      added.push({ name: field.name, type: field.type });
      continue;
    }
    if (existing.name !== field.name) {
      throw new AppError(
        'INVALID_FIELD_NAME',
        `field "${field.name}" collides with existing column "${existing.name}" (MySQL column names ignore case); use the exact name "${existing.name}"`,
        { field: field.name, existingField: existing.name },
      );
    }
    if (existing.type !== field.type) {
      throw new AppError(
        'SCHEMA_CONFLICT',
        `field "${field.name}" is stored as ${existing.type} but this request declares it as ${field.type}; declare it as ${existing.type}, or use a new field name for the ${field.type} values`,
        { field: field.name, storedType: existing.type, requestedType: field.type },
      );
    }
  }

  const merged = [...stored.map((f) => ({ name: f.name, type: f.type })), ...added];
  if (added.length > 0 && merged.length > maxColumns) {
    throw tooManyColumns(merged.length, maxColumns, `adding ${added.length} new field(s) would give the family`);
  }
  return { merged, added };
}
