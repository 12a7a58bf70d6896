import { expect } from 'chai';
import type { Batcher } from '../../src/server/batcher';
import { ServiceError } from '../../src/server/errors';

/** The error with which `b.admit()` refuses a request; fails the test when it admits one instead. */
export function refusal(b: Batcher): ServiceError {
  try {
    b.admit();
  } catch (err) {
    expect(err).to.be.instanceOf(ServiceError);
    return err as ServiceError;
  }
  throw new Error('admit() should have refused');
}
