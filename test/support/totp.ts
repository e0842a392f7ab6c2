/** TOTP codes in integration tests, computed at the server's injected clock (never at wall time). */
import { decodeBase32, timeStep, totpCodeAt, type TotpParameters } from '../../src/otp/otp.js';
import type { TestKairos } from './harness.js';

/** RFC 6238's defaults, which Kairos enrolls with unless configured otherwise. */
export const SHA1: TotpParameters = { algorithm: 'SHA1', digits: 6, periodSeconds: 30 };

/** The code for `secretBase32` at the server's clock. */
export function totpCodeNow(server: Pick<TestKairos, 'clock'>, secretBase32: string, parameters: TotpParameters = SHA1): string {
  return totpCodeAt(decodeBase32(secretBase32), parameters, timeStep(server.clock.nowMs(), parameters.periodSeconds));
}
