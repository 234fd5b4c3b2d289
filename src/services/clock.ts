/** Injected time source, so tests can control time without mocks. */
export type Clock = () => Date;

/** The real clock. */
export const systemClock: Clock = () => new Date();

/** Date -> 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC, the form DATETIME(6) columns take. */
export function toSqlDateTime(date: Date): string {
  return `${date.toISOString().slice(0, 23).replace('T', ' ')}000`;
}
