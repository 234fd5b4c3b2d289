/** Shared assertion for tests that drive the generated SDK. */
import { expect } from 'vitest';
import { DatabalancerError } from '../../../sdk/index.js';

/** Awaits a call that must fail and returns its DatabalancerError. */
export async function failure(call: Promise<unknown>): Promise<DatabalancerError> {
  try {
    await call;
  } catch (error) {
    expect(error).toBeInstanceOf(DatabalancerError);
    return error as DatabalancerError;
  }
  throw new Error('expected the call to fail');
}
