import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import {
  encodeBase32,
  matchTotpCode,
  scanTotpCode,
  SECRET_BYTES_BY_ALGORITHM,
  type TotpAlgorithm,
  type TotpParameters,
} from '../../src/otp/otp.js';
import { buildOtpauthUrl, parseOtpauthUrl } from '../../src/credentials/totp/otpauth-url.js';
import { renderQrPngDataUri } from '../../src/credentials/totp/qr-code.js';
import { describeWithTool } from '../support/external-tool.js';

/**
 * Interoperability with independent implementations from Debian: oathtool (OATH Toolkit) computes the codes an
 * authenticator would show, and zbarimg reads the enrollment QR code the way a phone camera would.
 */

const ALGORITHMS: TotpAlgorithm[] = ['SHA1', 'SHA256', 'SHA512'];
const DIGITS = [6, 8] as const;
const PERIODS_SECONDS = [30, 60];
const TIMES_MS = [
  Date.UTC(2026, 10, 22, 12, 0, 0),
  Date.UTC(2026, 10, 22, 12, 0, 59), // last second of a 30 s and a 60 s step
  Date.UTC(2001, 8, 9, 1, 46, 40),
  Date.UTC(2038, 0, 19, 3, 14, 8), // past the signed 32-bit Unix time limit
];

/** Deterministic secret of the recommended length, so a failure is reproducible. */
function secretFor(algorithm: TotpAlgorithm, label: string): Uint8Array {
  const digest = createHash('sha512').update(`kairos interop ${algorithm} ${label}`).digest();
  return new Uint8Array(digest.subarray(0, SECRET_BYTES_BY_ALGORITHM[algorithm]));
}

/** "2026-11-22 12:00:59 UTC", the form oathtool's --now parses. */
function oathtoolTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

function oathtoolCode(secret: Uint8Array, parameters: TotpParameters, atMs: number): string {
  const args = [
    `--totp=${parameters.algorithm.toLowerCase()}`,
    '-d',
    String(parameters.digits),
    '-s',
    `${parameters.periodSeconds}s`,
    '--now',
    oathtoolTime(atMs),
    '-b',
    encodeBase32(secret),
  ];
  return execFileSync('oathtool', args, { encoding: 'utf8', stdio: 'pipe' }).trim();
}

describeWithTool('oathtool', 'oathtool', 'oathtool codes are accepted by matchTotpCode', () => {
  for (const algorithm of ALGORITHMS) {
    for (const digits of DIGITS) {
      for (const periodSeconds of PERIODS_SECONDS) {
        const parameters: TotpParameters = { algorithm, digits, periodSeconds };
        const secret = secretFor(algorithm, `${digits}/${periodSeconds}`);

        it(`${algorithm}, ${digits} digits, ${periodSeconds} s: accepted at ${TIMES_MS.length} fixed times`, () => {
          for (const nowMs of TIMES_MS) {
            const code = oathtoolCode(secret, parameters, nowMs);
            expect(code).toMatch(new RegExp(`^\\d{${digits}}$`));
            expect(matchTotpCode({ secret, parameters, code, nowMs, windowSteps: 0 })?.offsetSteps).toBe(0);
          }
        });

        it(`${algorithm}, ${digits} digits, ${periodSeconds} s: a code 3 steps old is rejected with window 1, scanned at -3`, () => {
          const nowMs = TIMES_MS[0]!;
          const oldCode = oathtoolCode(secret, parameters, nowMs - 3 * periodSeconds * 1000);
          expect(matchTotpCode({ secret, parameters, code: oldCode, nowMs, windowSteps: 1 })).toBeNull();
          expect(scanTotpCode({ secret, parameters, code: oldCode, nowMs, fromOffsetSteps: -20, toOffsetSteps: 20 })).toContain(-3);
        });
      }
    }
  }
});

const QR_CASES = [
  { issuer: 'Kairos Café', accountName: 'alice+1@example.com', algorithm: 'SHA1' as const },
  { issuer: 'Acme: Ops & Co #1?', accountName: 'bob@example.com', algorithm: 'SHA512' as const },
  { issuer: 'Zürich Bank', accountName: 'Jürgen Groß', algorithm: 'SHA256' as const },
];

describeWithTool('zbarimg', 'zbar-tools', 'enrollment QR code decodes to the exact otpauth URL (zbarimg)', () => {
  const directory = mkdtempSync(join(tmpdir(), 'kairos-qr-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  QR_CASES.forEach((input, index) => {
    it(`issuer ${JSON.stringify(input.issuer)}, account ${JSON.stringify(input.accountName)} (${input.algorithm})`, async () => {
      const parameters: TotpParameters = { algorithm: input.algorithm, digits: 6, periodSeconds: 30 };
      const secret = secretFor(input.algorithm, 'qr');
      const url = buildOtpauthUrl({ issuer: input.issuer, accountName: input.accountName, secret, parameters });

      const dataUri = await renderQrPngDataUri(url);
      expect(dataUri.startsWith('data:image/png;base64,')).toBe(true);
      const file = join(directory, `enroll-${index}.png`);
      writeFileSync(file, Buffer.from(dataUri.slice('data:image/png;base64,'.length), 'base64'));
      const decoded = execFileSync('zbarimg', ['--quiet', '--raw', file], { encoding: 'utf8', stdio: 'pipe' });
      expect(decoded.replace(/\n$/, '')).toBe(url);

      expect(parseOtpauthUrl(decoded.trim())).toEqual({ issuer: input.issuer, accountName: input.accountName, secret, parameters });
    });
  });
});

it('parseOtpauthUrl(buildOtpauthUrl(x)) round-trips for the QR cases', () => {
  for (const input of QR_CASES) {
    const parameters: TotpParameters = { algorithm: input.algorithm, digits: 8, periodSeconds: 60 };
    const secret = secretFor(input.algorithm, 'round-trip');
    const url = buildOtpauthUrl({ issuer: input.issuer, accountName: input.accountName, secret, parameters });
    expect(parseOtpauthUrl(url)).toEqual({ issuer: input.issuer, accountName: input.accountName, secret, parameters });
  }
});
