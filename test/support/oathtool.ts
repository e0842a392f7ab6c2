import { execFileSync } from 'node:child_process';
import type { TotpParameters } from '../../src/otp/otp.js';

/**
 * The code an authenticator app shows at `atMs` for a base32 secret, computed by oathtool (OATH Toolkit), an
 * implementation independent of Kairos's. `atMs` is the DEVICE's time: shift it to simulate a wrong phone clock.
 */
export function oathtoolCode(secretBase32: string, parameters: TotpParameters, atMs: number): string {
  const now = new Date(atMs).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  return execFileSync(
    'oathtool',
    [`--totp=${parameters.algorithm}`, `--digits=${parameters.digits}`, `--time-step-size=${parameters.periodSeconds}s`, `--now=${now}`, '-b', secretBase32],
    { encoding: 'utf8' },
  ).trim();
}
