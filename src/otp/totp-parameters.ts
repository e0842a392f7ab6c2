/**
 * The parameters a TOTP credential is enrolled with. Kairos stores them per credential, so changing the configured
 * defaults never breaks an enrolled authenticator.
 */

export type TotpAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

export interface TotpParameters {
  algorithm: TotpAlgorithm;
  digits: 6 | 8;
  periodSeconds: number;
}

export const TOTP_ALGORITHMS: readonly TotpAlgorithm[] = ['SHA1', 'SHA256', 'SHA512'];

/**
 * What an authenticator assumes when a Key URI omits a parameter (Key URI Format: algorithm SHA1, digits 6,
 * period 30), which is also RFC 6238 §5.2's recommended 30-second step.
 */
export const DEFAULT_TOTP_PARAMETERS: Readonly<TotpParameters> = Object.freeze({
  algorithm: 'SHA1',
  digits: 6,
  periodSeconds: 30,
});

/**
 * Secret length per algorithm: the key is as long as the hash output. RFC 4226 §4 requires at least 128 bits and
 * recommends 160 bits for HMAC-SHA1; RFC 6238 §5.1 says keys "SHOULD be of the length of the HMAC output", and its
 * Appendix B test seeds are 20, 32 and 64 bytes.
 */
export const SECRET_BYTES_BY_ALGORITHM: Readonly<Record<TotpAlgorithm, number>> = Object.freeze({
  SHA1: 20,
  SHA256: 32,
  SHA512: 64,
});

/** Throws a TypeError naming the first invalid parameter (misuse: parameters come from config or a stored row). */
export function assertTotpParameters(parameters: TotpParameters): void {
  if (!TOTP_ALGORITHMS.includes(parameters.algorithm)) throw new TypeError('TOTP algorithm must be SHA1, SHA256 or SHA512');
  if (parameters.digits !== 6 && parameters.digits !== 8) throw new TypeError('TOTP digits must be 6 or 8');
  if (!Number.isSafeInteger(parameters.periodSeconds) || parameters.periodSeconds < 1) {
    throw new TypeError('TOTP periodSeconds must be a positive integer');
  }
}

/** The stored columns of TOTP parameters (tables `totp_credentials` and `totp_previous_secrets`). */
export interface TotpParameterColumns {
  algorithm: string;
  digits: number | string;
  period_seconds: number | string;
}

export function totpParameterColumns(parameters: TotpParameters): { algorithm: TotpAlgorithm; digits: 6 | 8; period_seconds: number } {
  return { algorithm: parameters.algorithm, digits: parameters.digits, period_seconds: parameters.periodSeconds };
}

/** Parameters read back from their columns (PostgreSQL may hand integers back as strings); not validated here. */
export function totpParametersOfColumns(row: TotpParameterColumns): TotpParameters {
  return { algorithm: row.algorithm as TotpAlgorithm, digits: Number(row.digits) as 6 | 8, periodSeconds: Number(row.period_seconds) };
}
