/**
 * How a family's columns are described to clients (REST describe, ingest
 * results, GraphQL): the seed's { name, nullable, type } plus the declared type.
 */
import type { DeclaredField } from './declared-schema.js';
import { columnDataType, type DeclaredType } from './type-mapping.js';
import { ID_COLUMN } from './identifiers.js';

/** One column of a family table. `type` is the MySQL data type (seed key). */
export interface ColumnDescription {
  name: string;
  nullable: boolean;
  type: string;
  declaredType: DeclaredType;
}

/** Example: { name: 'weight', type: 'int' } -> { name: 'weight', nullable: true, type: 'bigint', declaredType: 'int' }. */
export function describeField(field: DeclaredField): ColumnDescription {
  return { name: field.name, nullable: true, type: columnDataType(field.type), declaredType: field.type };
}

/** The `id` column followed by the declared fields, as `SELECT *` returns them. */
export function describeColumns(fields: readonly DeclaredField[]): ColumnDescription[] {
  return [{ name: ID_COLUMN, nullable: false, type: 'bigint', declaredType: 'int' }, ...fields.map(describeField)];
}
