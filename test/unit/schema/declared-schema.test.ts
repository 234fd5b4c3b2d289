import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors/app-error.js';
import {
  DEFAULT_MAX_COLUMNS,
  isPlainObject,
  mergeSchemas,
  parseDeclaredSchema,
  type DeclaredField,
} from '../../../src/schema/declared-schema.js';
import dogRegistry from '../../fixtures/schemas/dog_registry.json' with { type: 'json' };
import osqueryProcesses from '../../fixtures/schemas/osquery_processes.json' with { type: 'json' };
import invalidSchemas from '../../fixtures/schemas/invalid_schemas.json' with { type: 'json' };
import { appErrorOf } from '../../helpers/app-error.js';

function fieldsOf(count: number, prefix = 'f'): Record<string, string> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}`, 'int']));
}

describe('parseDeclaredSchema', () => {
  it('parses types with aliases and any case, keeping key order', () => {
    expect(parseDeclaredSchema({ name: 'TEXT', Age: 'Integer', at: 'datetime', tags: 'array' })).toEqual([
      { name: 'name', type: 'string' },
      { name: 'Age', type: 'int' },
      { name: 'at', type: 'timestamp' },
      { name: 'tags', type: 'json' },
    ]);
  });

  it('parses the dog_registry fixture', () => {
    expect(parseDeclaredSchema(dogRegistry.schema)).toEqual([
      { name: 'name', type: 'string' },
      { name: 'breed', type: 'string' },
      { name: 'weight', type: 'int' },
      { name: 'height_m', type: 'float' },
      { name: 'vaccinated', type: 'bool' },
      { name: 'registered_at', type: 'timestamp' },
      { name: 'born_on', type: 'date' },
      { name: 'owner', type: 'json' },
    ]);
  });

  it('parses the osquery_processes fixture', () => {
    const fields = parseDeclaredSchema(osqueryProcesses.schema);
    expect(fields.map((f) => f.name)).toEqual(Object.keys(osqueryProcesses.schema));
    expect(Object.fromEntries(fields.map((f) => [f.name, f.type]))).toMatchObject({
      unixTime: 'timestamp',
      pid: 'int',
      resident_size: 'int',
      cpu_percent: 'float',
      on_disk: 'bool',
      decorations: 'json',
    });
  });

  it.each(invalidSchemas)('rejects: $comment', ({ schema, code, details }) => {
    const error = appErrorOf(() => parseDeclaredSchema(schema));
    expect(error.code).toBe(code);
    expect(error.details).toMatchObject(details);
  });

  it('allows an empty schema', () => {
    expect(parseDeclaredSchema({})).toEqual([]);
  });

  it.each([null, undefined, 'name:string', 42, true, [], [['a', 'int']], new Map([['a', 'int']]), new Date()])(
    'rejects the non-object %j with INVALID_SCHEMA',
    (schema) => {
      expect(appErrorOf(() => parseDeclaredSchema(schema)).code).toBe('INVALID_SCHEMA');
    },
  );

  it('accepts an object without a prototype', () => {
    const schema = Object.create(null) as Record<string, string>;
    schema['a'] = 'int';
    expect(parseDeclaredSchema(schema)).toEqual([{ name: 'a', type: 'int' }]);
  });

  it('treats "constructor" and "toString" from JSON.parse as plain field names', () => {
    const schema: unknown = JSON.parse('{"toString": "string", "constructor": "int"}');
    expect(parseDeclaredSchema(schema)).toEqual([
      { name: 'toString', type: 'string' },
      { name: 'constructor', type: 'int' },
    ]);
  });

  it('refuses "__proto__" from JSON.parse as INVALID_FIELD_NAME (the driver cannot read it back)', () => {
    const error = appErrorOf(() => parseDeclaredSchema(JSON.parse('{"__proto__": "string"}')));
    expect(error.code).toBe('INVALID_FIELD_NAME');
    expect(error.details).toEqual({ field: '__proto__' });
  });

  it('names the field, the type and the accepted types for an unknown type', () => {
    const error = appErrorOf(() => parseDeclaredSchema({ ok: 'int', size: 'varchar(10)' }));
    expect(error.code).toBe('INVALID_SCHEMA');
    expect(error.details).toMatchObject({ field: 'size', type: 'varchar(10)' });
    expect(error.details['accepted']).toContain('string');
    expect(error.details['accepted']).toContain('timestamp');
  });

  it.each([[5], [null], [{ type: 'int' }], [['int']], [true]])('rejects the non-string type %j', (type) => {
    const error = appErrorOf(() => parseDeclaredSchema({ f: type }));
    expect(error.code).toBe('INVALID_SCHEMA');
    expect(error.details).toMatchObject({ field: 'f' });
  });

  it.each([
    [{ Name: 'string', name: 'int' }, 'name', 'Name'],
    [{ name: 'string', NAME: 'string' }, 'NAME', 'name'],
    [{ k: 'int', '\u212A': 'int' }, '\u212A', 'k'],
    [{ 'é': 'int', 'e\u0301': 'int' }, 'e\u0301', 'é'],
  ])('rejects the case collision in %j', (schema, field, collidesWith) => {
    const error = appErrorOf(() => parseDeclaredSchema(schema));
    expect(error.code).toBe('INVALID_FIELD_NAME');
    expect(error.details).toEqual({ field, collidesWith });
  });

  it('rejects reserved names in any case', () => {
    for (const name of ['id', 'Id', 'ID', '_ingested_at', '_INGESTED_AT']) {
      const error = appErrorOf(() => parseDeclaredSchema({ [name]: 'int' }));
      expect(error.code).toBe('INVALID_FIELD_NAME');
      expect(error.details).toEqual({ field: name });
    }
  });

  it('enforces maxColumns at the limit', () => {
    expect(parseDeclaredSchema(fieldsOf(3), { maxColumns: 3 })).toHaveLength(3);
    const error = appErrorOf(() => parseDeclaredSchema(fieldsOf(4), { maxColumns: 3 }));
    expect(error.code).toBe('TOO_MANY_COLUMNS');
    expect(error.details).toEqual({ limit: 3, count: 4 });
  });

  it('defaults maxColumns to 1000', () => {
    expect(DEFAULT_MAX_COLUMNS).toBe(1000);
    expect(parseDeclaredSchema(fieldsOf(1000))).toHaveLength(1000);
    expect(appErrorOf(() => parseDeclaredSchema(fieldsOf(1001))).details).toEqual({ limit: 1000, count: 1001 });
  });
});

describe('isPlainObject', () => {
  it('accepts only plain objects', () => {
    expect(isPlainObject({})).toBe(true);
    expect(isPlainObject(Object.create(null))).toBe(true);
    expect(isPlainObject([])).toBe(false);
    expect(isPlainObject(null)).toBe(false);
    expect(isPlainObject(new Date())).toBe(false);
    expect(isPlainObject('x')).toBe(false);
  });
});

describe('mergeSchemas', () => {
  const stored: DeclaredField[] = [
    { name: 'Name', type: 'string' },
    { name: 'weight', type: 'int' },
  ];

  it('adds new fields after the stored ones, in request order', () => {
    const result = mergeSchemas(
      stored,
      [
        { name: 'z', type: 'date' },
        { name: 'weight', type: 'int' },
        { name: 'a', type: 'json' },
      ],
      1000,
    );
    expect(result.added).toEqual([
      { name: 'z', type: 'date' },
      { name: 'a', type: 'json' },
    ]);
    expect(result.merged).toEqual([...stored, { name: 'z', type: 'date' }, { name: 'a', type: 'json' }]);
  });

  it('adds nothing when the request repeats the stored schema or declares less', () => {
    expect(mergeSchemas(stored, stored, 1000)).toEqual({ merged: stored, added: [] });
    expect(mergeSchemas(stored, [], 1000)).toEqual({ merged: stored, added: [] });
    expect(mergeSchemas(stored, [{ name: 'weight', type: 'int' }], 1000).added).toEqual([]);
  });

  it('takes everything from an empty stored schema', () => {
    const requested: DeclaredField[] = [{ name: 'a', type: 'bool' }];
    expect(mergeSchemas([], requested, 1000)).toEqual({ merged: requested, added: requested });
  });

  it('does not mutate its inputs', () => {
    const storedCopy = structuredClone(stored);
    const requested: DeclaredField[] = [{ name: 'new', type: 'float' }];
    const result = mergeSchemas(stored, requested, 1000);
    result.merged.push({ name: 'x', type: 'int' });
    expect(stored).toEqual(storedCopy);
    expect(requested).toEqual([{ name: 'new', type: 'float' }]);
  });

  it('reports a type change as SCHEMA_CONFLICT (409) with both types', () => {
    const error = appErrorOf(() => mergeSchemas(stored, [{ name: 'weight', type: 'string' }], 1000));
    expect(error.code).toBe('SCHEMA_CONFLICT');
    expect(error.status).toBe(409);
    expect(error.details).toEqual({ field: 'weight', storedType: 'int', requestedType: 'string' });
  });

  it('does not treat an alias of the same type as a conflict', () => {
    const requested = parseDeclaredSchema({ weight: 'BIGINT', Name: 'text' });
    expect(mergeSchemas(stored, requested, 1000).added).toEqual([]);
  });

  it('rejects a name that matches a stored one only by case', () => {
    const error = appErrorOf(() => mergeSchemas(stored, [{ name: 'name', type: 'string' }], 1000));
    expect(error.code).toBe('INVALID_FIELD_NAME');
    expect(error.details).toEqual({ field: 'name', existingField: 'Name' });
  });

  it('reports the spelling problem before the type problem', () => {
    const error = appErrorOf(() => mergeSchemas(stored, [{ name: 'WEIGHT', type: 'float' }], 1000));
    expect(error.code).toBe('INVALID_FIELD_NAME');
    expect(error.details).toEqual({ field: 'WEIGHT', existingField: 'weight' });
  });

  it('rejects two requested fields that collide with each other', () => {
    const error = appErrorOf(() =>
      mergeSchemas(
        [],
        [
          { name: 'ab', type: 'int' },
          { name: 'AB', type: 'int' },
        ],
        1000,
      ),
    );
    expect(error.code).toBe('INVALID_FIELD_NAME');
    expect(error.details).toEqual({ field: 'AB', collidesWith: 'ab' });
  });

  it('enforces maxColumns on the merged schema', () => {
    const many = parseDeclaredSchema(fieldsOf(3, 's'));
    expect(mergeSchemas(many, [{ name: 'x', type: 'int' }], 4).merged).toHaveLength(4);
    const error = appErrorOf(() =>
      mergeSchemas(
        many,
        [
          { name: 'x', type: 'int' },
          { name: 'y', type: 'int' },
        ],
        4,
      ),
    );
    expect(error.code).toBe('TOO_MANY_COLUMNS');
    expect(error.details).toEqual({ limit: 4, count: 5 });
  });

  it('keeps a family writable when the cap was lowered below its size but nothing is added', () => {
    const many = parseDeclaredSchema(fieldsOf(5, 's'));
    expect(mergeSchemas(many, many.slice(0, 2), 3).added).toEqual([]);
    expect(appErrorOf(() => mergeSchemas(many, [{ name: 'new', type: 'int' }], 3)).code).toBe('TOO_MANY_COLUMNS');
  });
});
