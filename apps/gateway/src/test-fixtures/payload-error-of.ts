import { PayloadError } from '../normalizers/payload-error';

/** Runs a normalizer call that must refuse its payload and returns the PayloadError (anything else fails the test). */
export function payloadErrorOf(fn: () => unknown): PayloadError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PayloadError) return e;
    throw e;
  }
  throw new Error('expected a PayloadError');
}
