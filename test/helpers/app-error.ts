/** Assertions on thrown AppErrors, shared by the unit tests. */
import { expect } from 'vitest';
import { AppError } from '../../src/errors/app-error.js';

/** Runs `fn` expecting it to throw an AppError, and returns that error for assertions on code and details. */
export function appErrorOf(fn: () => unknown): AppError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected an AppError, nothing was thrown');
}

/** The code of the AppError `fn` throws (fails the test when it throws nothing or something else). */
export function codeOf(fn: () => unknown): string {
  return appErrorOf(fn).code;
}
