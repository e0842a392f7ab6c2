import { Secret, TOTP, URI } from 'otpauth';
import { copyToArrayBuffer, decodeBase32 } from '../../otp/base32.js';
import { assertTotpParameters, DEFAULT_TOTP_PARAMETERS, type TotpAlgorithm, type TotpParameters } from '../../otp/totp-parameters.js';

/**
 * Key URIs (Google's "Key Uri Format", which every authenticator follows):
 * `otpauth://totp/<Issuer>:<AccountName>?issuer=…&secret=…&algorithm=…&digits=…&period=…`.
 * Errors never quote the URL: it contains the secret.
 */

export interface OtpauthUrlParts {
  issuer: string | null;
  accountName: string;
  secret: Uint8Array;
  parameters: TotpParameters;
}

/**
 * Builds the URL with otpauth's `URI.stringify`, which percent-encodes issuer and account name with
 * `encodeURIComponent`: a space becomes %20 (never `+`, which apps show literally), and non-ASCII, `:`, `@`, `&`,
 * `#`, `?`, `+` are all escaped, so the only literal `:` in the label is the issuer separator. The issuer is written
 * both as the label prefix and as the `issuer` parameter, as the format recommends. An empty issuer is left out.
 */
export function buildOtpauthUrl(input: {
  issuer: string;
  accountName: string;
  secret: Uint8Array;
  parameters: TotpParameters;
}): string {
  assertTotpParameters(input.parameters);
  if (input.accountName.length === 0) throw new TypeError('otpauth URL needs an account name');
  if (input.secret.length === 0) throw new TypeError('otpauth URL needs a non-empty secret');
  const totp = new TOTP({
    issuer: input.issuer,
    label: input.accountName,
    issuerInLabel: true,
    secret: new Secret({ buffer: copyToArrayBuffer(input.secret) }),
    algorithm: input.parameters.algorithm,
    digits: input.parameters.digits,
    period: input.parameters.periodSeconds,
  });
  return URI.stringify(totp);
}

/**
 * Parses a TOTP Key URI as real exporters write it: the issuer may be only in the label, only in the query, or
 * both (the query wins, as in Google Authenticator); the separator may be a literal or encoded colon, followed by
 * optional spaces; missing algorithm/digits/period mean SHA1/6/30; unknown parameters (image, color…) are ignored;
 * `+` stays a plus (RFC 3986, not form encoding: `alice+1@example.com` is common and often left unescaped).
 * Throws a TypeError for anything else: another scheme, `hotp`, no or invalid secret, unsupported algorithm,
 * digits other than 6 or 8, a non-positive period, a repeated parameter, broken percent-encoding.
 *
 * otpauth's own `URI.parse` is not used because it splits the label at the first `:` or `%3A` after decoding
 * nothing, so an issuer containing an (escaped) colon would be cut in two.
 */
export function parseOtpauthUrl(url: string): OtpauthUrlParts {
  const trimmed = url.trim().split('#', 1)[0] ?? '';
  const scheme = /^otpauth:\/\/([a-z]+)\//i.exec(trimmed);
  if (scheme === null) throw new TypeError('not an otpauth:// URL');
  if (scheme[1]!.toLowerCase() !== 'totp') throw new TypeError('otpauth URL is not a TOTP (otpauth://totp/) URL');

  const rest = trimmed.slice(scheme[0].length);
  const queryStart = rest.indexOf('?');
  if (queryStart === -1) throw new TypeError('otpauth URL has no parameters (secret missing)');
  const label = splitLabel(rest.slice(0, queryStart));
  const query = parseQuery(rest.slice(queryStart + 1));

  const secretText = query.get('secret');
  if (secretText === undefined) throw new TypeError('otpauth URL has no secret');
  let secret: Uint8Array;
  try {
    secret = decodeBase32(secretText);
  } catch {
    throw new TypeError('otpauth URL secret is not valid base32');
  }

  const parameters: TotpParameters = {
    algorithm: parseAlgorithm(query.get('algorithm')),
    digits: parseDigits(query.get('digits')),
    periodSeconds: parsePeriod(query.get('period')),
  };
  const queryIssuer = query.get('issuer');
  const issuer = queryIssuer !== undefined && queryIssuer !== '' ? queryIssuer : label.issuer;
  return { issuer, accountName: label.accountName, secret, parameters };
}

/** Label = `Issuer:Account` or `Account`. Our own URLs escape every colon inside names, so a literal one splits. */
function splitLabel(rawLabel: string): { issuer: string | null; accountName: string } {
  let separator = rawLabel.indexOf(':');
  let separatorLength = 1;
  if (separator === -1) {
    const encoded = /%3A/i.exec(rawLabel);
    if (encoded !== null) {
      separator = encoded.index;
      separatorLength = 3;
    }
  }
  if (separator === -1) return { issuer: null, accountName: decode(rawLabel) };
  const issuer = decode(rawLabel.slice(0, separator));
  const accountName = decode(rawLabel.slice(separator + separatorLength)).replace(/^ +/, '');
  return { issuer: issuer === '' ? null : issuer, accountName };
}

function parseQuery(rawQuery: string): Map<string, string> {
  const parameters = new Map<string, string>();
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const key = decode(equals === -1 ? pair : pair.slice(0, equals)).toLowerCase();
    const value = equals === -1 ? '' : decode(pair.slice(equals + 1));
    if (parameters.has(key)) throw new TypeError(`otpauth URL repeats the '${key}' parameter`);
    parameters.set(key, value);
  }
  return parameters;
}

function decode(component: string): string {
  try {
    return decodeURIComponent(component);
  } catch {
    throw new TypeError('otpauth URL has malformed percent-encoding');
  }
}

function parseAlgorithm(value: string | undefined): TotpAlgorithm {
  if (value === undefined) return DEFAULT_TOTP_PARAMETERS.algorithm;
  const canonical = value.toUpperCase().replace('-', '');
  if (canonical === 'SHA1' || canonical === 'SHA256' || canonical === 'SHA512') return canonical;
  throw new TypeError('otpauth URL algorithm must be SHA1, SHA256 or SHA512');
}

function parseDigits(value: string | undefined): 6 | 8 {
  if (value === undefined) return DEFAULT_TOTP_PARAMETERS.digits;
  if (value === '6') return 6;
  if (value === '8') return 8;
  throw new TypeError('otpauth URL digits must be 6 or 8');
}

function parsePeriod(value: string | undefined): number {
  if (value === undefined) return DEFAULT_TOTP_PARAMETERS.periodSeconds;
  const periodSeconds = /^[1-9][0-9]{0,8}$/.test(value) ? Number(value) : NaN;
  if (Number.isNaN(periodSeconds)) throw new TypeError('otpauth URL period must be a positive integer of seconds');
  return periodSeconds;
}
