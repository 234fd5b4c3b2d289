/**
 * Column types for JSON logs sent without a schema, inferred from the JSON
 * values (docs/osquery.md, "Schemaless JSON"). Pure: decides, never runs DDL.
 *
 * Rules:
 * - a JSON integer (within ±(2^53 - 1)) -> int; any other number -> float;
 *   true/false -> bool; a string -> string; an object or array -> json;
 *   null -> nothing (a field only ever null gets no column yet; the raw copy
 *   keeps it).
 * - Within one request, a new field seen as int and as float -> float. Any
 *   other mix: the type of the first event that has a value wins.
 * - A declared schema wins for the fields it names; a family's stored
 *   columns keep their type (columns never change type).
 * - A value that does not fit its field's type (coerceValue's rules: an int
 *   field takes "42" but not "abc" or 1.5; a string field takes only
 *   strings) is a per-event INVALID_VALUE error naming where the type came
 *   from; strings are never parsed into numbers or times.
 */
import { AppError } from '../errors/app-error.js';
import type { ErrorCode } from '../errors/codes.js';
import { coerceValue } from './coerce-value.js';
import { isPlainObject, type DeclaredField } from './declared-schema.js';
import { columnNameKey, validateFieldName } from './identifiers.js';
import type { DeclaredType } from './type-mapping.js';

/** Options of {@link inferSchema}. */
export interface InferSchemaOptions {
  /** The family's stored columns. */
  stored?: readonly DeclaredField[];
  /** The request's declared schema (parsed), if any: wins for its fields. */
  declared?: readonly DeclaredField[];
  /** Most columns the family may have (stored + added); past it, TOO_MANY_COLUMNS. */
  maxColumns?: number;
}

/** One event's problem. */
export interface InferenceError {
  /** 0-based event index. */
  index: number;
  field: string | null;
  code: Extract<ErrorCode, 'INVALID_VALUE' | 'INVALID_FIELD_NAME' | 'BAD_USER_INPUT'>;
  message: string;
}

/** Result of {@link inferSchema}. */
export interface InferredSchema {
  /** Every field the events use, with its type: stored, declared and new, in first-use order. */
  fields: DeclaredField[];
  /** Inferred fields (neither stored nor declared): with the declared ones, the columns to add (mergeSchemas), in first-seen order. */
  added: DeclaredField[];
  /** Fields only ever null in these events (no column decided; drop them from the events). */
  nullOnly: string[];
  errors: InferenceError[];
}

/**
 * The type a JSON value suggests, or null for null/undefined.
 *
 * @example inferJsonType(3) // => 'int'
 * @example inferJsonType(2 ** 60) // => 'float' (not exact as a JSON number)
 */
export function inferJsonType(value: unknown): DeclaredType | null {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isSafeInteger(value) ? 'int' : 'float';
    case 'bigint':
      return 'int';
    case 'string':
      return 'string';
    default:
      return 'json';
  }
}

interface Known {
  field: DeclaredField;
  /** Where the type came from, for messages. */
  from: string;
  isNew: boolean;
}

function describeValue(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 60 ? `${text.slice(0, 60)}...` : text;
}

/**
 * Infers the fields of schemaless events, reporting every event that cannot
 * be stored with them (the caller rejects the request when `errors` is not
 * empty, or drops those events, as its API says).
 *
 * @throws AppError BAD_USER_INPUT when `events` is not an array;
 *   TOO_MANY_COLUMNS `{ limit, count }` when the new fields pass maxColumns.
 * @example inferSchema([{ a: 1, b: 'x' }, { a: 2.5 }]).added
 *   // => [{ name: 'a', type: 'float' }, { name: 'b', type: 'string' }]
 */
export function inferSchema(events: readonly unknown[], opts: InferSchemaOptions = {}): InferredSchema {
  if (!Array.isArray(events)) {
    throw new AppError('BAD_USER_INPUT', '"logs" must be an array of event objects', { received: typeof events });
  }
  const known = new Map<string, Known>();
  for (const field of opts.stored ?? []) known.set(columnNameKey(field.name), { field: { ...field }, from: 'the family stores it as', isNew: false });
  for (const field of opts.declared ?? []) known.set(columnNameKey(field.name), { field: { ...field }, from: 'the schema declares it as', isNew: false });

  const errors: InferenceError[] = [];
  const badEvents = new Set<number>();
  const order: string[] = [];
  const nullOnly = new Map<string, string>();
  const firstSeen = new Map<string, number>();

  // Pass 1: names and types.
  for (let index = 0; index < events.length; index++) {
    const event = events[index];
    if (!isPlainObject(event)) {
      errors.push({ index, field: null, code: 'BAD_USER_INPUT', message: `event ${index} is not a JSON object; send each event as {"field": value, ...}` });
      badEvents.add(index);
      continue;
    }
    for (const [name, value] of Object.entries(event)) {
      const key = columnNameKey(name);
      const entry = known.get(key);
      if (entry !== undefined) {
        if (entry.field.name !== name) {
          errors.push({
            index,
            field: name,
            code: 'INVALID_FIELD_NAME',
            message: `event ${index}: field "${name}" is the same column as "${entry.field.name}" (column names ignore case); use the exact name "${entry.field.name}"`,
          });
          badEvents.add(index);
          continue;
        }
        if (!order.includes(key)) order.push(key);
        nullOnly.delete(key);
        const type = inferJsonType(value);
        if (entry.isNew && entry.field.type === 'int' && type === 'float') {
          entry.field.type = 'float';
          entry.from = `events ${firstSeen.get(key) ?? 0} and ${index} (an integer and a fraction) make it`;
        }
        continue;
      }
      try {
        validateFieldName(name);
      } catch (error) {
        errors.push({ index, field: name, code: 'INVALID_FIELD_NAME', message: `event ${index}: ${error instanceof Error ? error.message : String(error)}` });
        badEvents.add(index);
        continue;
      }
      const type = inferJsonType(value);
      if (type === null) {
        if (!nullOnly.has(key)) nullOnly.set(key, name);
        continue;
      }
      nullOnly.delete(key);
      known.set(key, { field: { name, type }, from: `event ${index} makes it`, isNew: true });
      firstSeen.set(key, index);
      order.push(key);
    }
  }

  // Pass 2: every value fits its field's type.
  for (let index = 0; index < events.length; index++) {
    if (badEvents.has(index)) continue;
    const event = events[index] as Record<string, unknown>;
    for (const [name, value] of Object.entries(event)) {
      const entry = known.get(columnNameKey(name));
      if (entry === undefined || value === null) continue;
      try {
        coerceValue(entry.field.type, value);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        const fix = entry.isNew
          ? 'send one type per field, or declare the field\'s type in "schema"'
          : entry.from.startsWith('the family')
            ? 'columns never change type: send a value of that type, or use a new field name'
            : 'send a value of the declared type';
        errors.push({
          index,
          field: name,
          code: 'INVALID_VALUE',
          message: `event ${index}: field "${name}" holds ${describeValue(value)} but ${entry.from} ${entry.field.type}: ${reason}; ${fix}`,
        });
      }
    }
  }

  const fields = order.map((key) => (known.get(key) as Known).field);
  const added = order.map((key) => known.get(key) as Known).filter((k) => k.isNew).map((k) => k.field);
  const storedCount = opts.stored?.length ?? 0;
  if (opts.maxColumns !== undefined && added.length > 0 && storedCount + added.length > opts.maxColumns) {
    throw new AppError(
      'TOO_MANY_COLUMNS',
      `these events would give the family ${storedCount + added.length} fields, more than the limit of ${opts.maxColumns} columns per family; send fewer distinct fields or nest data in an object (stored as json)`,
      { limit: opts.maxColumns, count: storedCount + added.length },
    );
  }
  errors.sort((a, b) => a.index - b.index);
  return { fields, added, nullOnly: [...nullOnly.values()], errors };
}
