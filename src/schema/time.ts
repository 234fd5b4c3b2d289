/**
 * Time, the one place it is parsed and formatted: ISO-8601 and epoch-second
 * inputs (event values, purge cut-offs) to UTC fields with microseconds, and
 * those to the texts DATETIME(6) columns and the API use. Pure: no I/O.
 * Every parser here truncates beyond microseconds (toward the past), never
 * rounds: a purge cut-off never moves later.
 */

/**
 * Thrown by the parsers here and by coerceValue (coerce-value.ts) when a value does not fit; carries only the
 * reason. {@link coerceEvents} turns it into an INVALID_VALUE AppError with
 * the event index and field.
 */
export class ValueCoercionError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'ValueCoercionError';
  }
}

/** A JSON number: what a canonical decimal string looks like. */
const DECIMAL_PATTERN = /^(-?)(0|[1-9]\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;
const DATETIME_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?$/;

/** DATETIME's range as epoch seconds: 1000-01-01 00:00:00 .. 9999-12-31 23:59:59. */
const MIN_EPOCH_SECONDS = BigInt(Date.UTC(1000, 0, 1) / 1000);
const MAX_EPOCH_SECONDS = BigInt(Date.UTC(9999, 11, 31, 23, 59, 59) / 1000);

/** Floor division for BigInt (BigInt `/` truncates toward zero). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function checkCalendarDate(year: number, month: number, day: number): void {
  if (month < 1 || month > 12) throw new ValueCoercionError(`month ${month} does not exist`);
  if (day < 1 || day > daysInMonth(year, month)) {
    throw new ValueCoercionError(`${pad(year, 4)}-${pad(month, 2)} has no day ${day}`);
  }
}

function checkYearRange(year: number): void {
  if (year < 1000 || year > 9999) {
    throw new ValueCoercionError(`year ${year} is outside the range MySQL can store (1000 to 9999, in UTC)`);
  }
}

/** A point in time split into UTC calendar fields plus microseconds. */
export interface UtcInstant {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  micros: number;
}

export function formatDateTime(t: UtcInstant): string {
  return `${pad(t.year, 4)}-${pad(t.month, 2)}-${pad(t.day, 2)} ${pad(t.hour, 2)}:${pad(t.minute, 2)}:${pad(t.second, 2)}.${pad(t.micros, 6)}`;
}

export function formatDate(t: UtcInstant): string {
  return `${pad(t.year, 4)}-${pad(t.month, 2)}-${pad(t.day, 2)}`;
}

/** Whole epoch milliseconds (within Date's range) -> UTC fields, micros supplied separately. */
export function fromEpochMillis(ms: number, micros: number): UtcInstant {
  const d = new Date(ms);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    micros,
  };
}

/**
 * Parses an ISO-8601 date-time (`T`, `t` or a space between date and time;
 * seconds and fraction optional; `Z`, `+hh:mm`, `+hhmm`, `+hh` or no offset,
 * which means UTC) or a date alone (midnight UTC). Fractions beyond
 * microseconds are truncated. Returns undefined when the text is not in this
 * shape; throws ValueCoercionError when it is but names an impossible time.
 */
export function parseIsoInstant(text: string): UtcInstant | undefined {
  const fast = parseUtcIsoFast(text);
  if (fast !== undefined) return fast;
  const date = text.length === 10 && hasDateSeparators(text) ? calendarDateAt(text) : undefined;
  if (date !== undefined) {
    return { year: date.year, month: date.month, day: date.day, hour: 0, minute: 0, second: 0, micros: 0 };
  }
  const m = DATETIME_PATTERN.exec(text);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const micros = m[7] === undefined ? 0 : Number(m[7].slice(0, 6).padEnd(6, '0'));
  checkCalendarDate(year, month, day);
  // Date.UTC maps years 0-99 to 1900-1999; such years are out of range anyway.
  if (year < 100) checkYearRange(year);
  checkTimeOfDay(hour, minute, second, m[4], m[5], m[6]);
  let offsetMinutes = 0;
  const offset = m[8];
  if (offset !== undefined && offset !== 'Z' && offset !== 'z') {
    const digits = offset.slice(1).replace(':', '');
    const offHours = Number(digits.slice(0, 2));
    const offMinutes = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    if (offHours > 23 || offMinutes > 59) throw new ValueCoercionError(`time zone offset ${offset} does not exist`);
    offsetMinutes = (offset.startsWith('-') ? -1 : 1) * (offHours * 60 + offMinutes);
  }
  // Date.UTC is exact for whole milliseconds; the sub-second part never changes
  // with the offset, so microseconds are carried separately and never rounded.
  const ms = Date.UTC(year, month - 1, day, hour, minute - offsetMinutes, second);
  const instant = fromEpochMillis(ms, micros);
  checkYearRange(instant.year);
  return instant;
}

/**
 * Value of the `count` ASCII digits of `text` from `start` (the caller checks
 * that they are inside the text), or -1 when one of them is not a digit.
 */
function digitsAt(text: string, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/** Validated `YYYY-MM-DD` at the start of `text` (separators checked by the caller), or undefined; throws on impossible dates. */
export function calendarDateAt(text: string): { year: number; month: number; day: number } | undefined {
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  if (year < 0 || month < 0 || day < 0) return undefined;
  checkCalendarDate(year, month, day);
  checkYearRange(year);
  return { year, month, day };
}

/** True when `text` has `-` at 4 and 7, so that `YYYY-MM-DD` may start it. */
export function hasDateSeparators(text: string): boolean {
  return text.charCodeAt(4) === 45 && text.charCodeAt(7) === 45;
}

/**
 * Fast path of parseIsoInstant for the form most shippers send,
 * `YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z`: the fields are already UTC, so no Date
 * arithmetic is needed, and the text is scanned by hand instead of by a
 * regular expression. Undefined when the text has another shape (the general
 * parser then decides); throws on impossible dates and times.
 */
export function parseUtcIsoFast(text: string): UtcInstant | undefined {
  const length = text.length;
  if (length !== 20 && (length < 22 || length > 27)) return undefined;
  if (text.charCodeAt(length - 1) !== 90 /* Z */ || !hasDateSeparators(text) || text.charCodeAt(10) !== 84 /* T */) return undefined;
  if (text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58 /* : */) return undefined;
  let micros = 0;
  if (length > 20) {
    if (text.charCodeAt(19) !== 46 /* . */) return undefined;
    const fraction = digitsAt(text, 20, length - 21);
    if (fraction < 0) return undefined;
    micros = fraction * 10 ** (27 - length);
  }
  const hour = digitsAt(text, 11, 2);
  const minute = digitsAt(text, 14, 2);
  const second = digitsAt(text, 17, 2);
  if (hour < 0 || minute < 0 || second < 0) return undefined;
  const date = calendarDateAt(text);
  if (date === undefined) return undefined;
  checkTimeOfDay(hour, minute, second, text.slice(11, 13), text.slice(14, 16), text.slice(17, 19));
  return { year: date.year, month: date.month, day: date.day, hour, minute, second, micros };
}

function checkTimeOfDay(hour: number, minute: number, second: number, ...shown: Array<string | undefined>): void {
  if (hour > 23 || minute > 59 || second > 59) {
    throw new ValueCoercionError(`time ${shown[0]}:${shown[1]}:${shown[2] ?? '00'} does not exist (hours 00-23, minutes and seconds 00-59)`);
  }
}

/**
 * Parses a canonical decimal (JSON number syntax) as epoch seconds, exactly:
 * `"1700000000.123456"` keeps its microseconds; digits beyond microseconds are
 * dropped (toward the past). Returns undefined when the text is not a decimal.
 */
export function parseEpochSeconds(text: string): UtcInstant | undefined {
  if (text.length > 100) return undefined;
  const m = DECIMAL_PATTERN.exec(text);
  if (!m) return undefined;
  const negative = m[1] === '-';
  const intPart = m[2] ?? '0';
  const fracPart = m[3] ?? '';
  const exponent = Number(m[4] ?? '0');
  const range = (): ValueCoercionError =>
    new ValueCoercionError(
      'as epoch seconds this is outside the range MySQL can store (years 1000 to 9999); if it is in milliseconds, divide by 1000',
    );
  // value * 10^6 = digits * 10^(exponent + 6 - fracLen)
  const shift = exponent + 6 - fracPart.length;
  if (shift > 40) throw range();
  let digits = BigInt(intPart + fracPart);
  if (negative) digits = -digits;
  const micros = shift >= 0 ? digits * 10n ** BigInt(shift) : shift < -200 ? floorDiv(digits, 10n ** 200n) : floorDiv(digits, 10n ** BigInt(-shift));
  const seconds = floorDiv(micros, 1_000_000n);
  if (seconds < MIN_EPOCH_SECONDS || seconds > MAX_EPOCH_SECONDS) throw range();
  return fromEpochMillis(Number(seconds) * 1000, Number(micros - seconds * 1_000_000n));
}

/** Date -> 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC, the form DATETIME(6) columns take. */
export function toSqlDateTime(date: Date): string {
  return `${date.toISOString().slice(0, 23).replace('T', ' ')}000`;
}

/**
 * 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC, as a DATETIME column reads in a UTC
 * session) -> ISO-8601 with Z, keeping the digits it has; other text unchanged.
 * @example sqlDateTimeToIso('2024-01-02 03:04:05.123456') // => '2024-01-02T03:04:05.123456Z'
 */
export function sqlDateTimeToIso(text: string): string {
  // The server's own form has its space at 10 (checked first: every result cell of a DATETIME column comes here).
  if (text.length >= 19 && text.charCodeAt(10) === 32) return `${text.slice(0, 10)}T${text.slice(11)}Z`;
  return text.includes(' ') ? `${text.replace(' ', 'T')}Z` : text;
}

/** UTC fields -> microseconds since the Unix epoch. */
export function instantToEpochMicros(t: UtcInstant): number {
  return Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second) * 1000 + t.micros;
}

/**
 * Microseconds since the epoch (>= 0) -> ISO-8601 UTC with six fraction digits.
 * @example epochMicrosToIso(1_714_521_600_000_007) // => '2024-05-01T00:00:00.000007Z'
 */
export function epochMicrosToIso(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const subMs = String(micros - ms * 1000).padStart(3, '0');
  return `${new Date(ms).toISOString().slice(0, 23)}${subMs}Z`;
}

/** ISO-8601 with six fraction digits -> the DATETIME(6) text: '2024-05-01T00:00:00.000007Z' -> '2024-05-01 00:00:00.000007'. */
export function isoToSqlDateTime(iso: string): string {
  return iso.slice(0, 26).replace('T', ' ');
}
