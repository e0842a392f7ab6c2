/**
 * The user's phone: it reads the enrollment QR code off the screen (zbarimg, Debian `zbar-tools`, decoding a
 * screenshot of the element) and shows codes like an authenticator app (oathtool, Debian `oathtool`). It never sees
 * the secret any other way: not from the DOM, not from the database.
 *
 * The phone has its own clock: the server's (injected) clock plus `clockOffsetSeconds`, so a phone whose clock is
 * three minutes off is `phone.clockOffsetSeconds = 180`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Locator } from 'playwright-core';

export interface AuthenticatorEntry {
  /** The label the app shows (issuer and account name). */
  issuer: string;
  account: string;
  secretBase32: string;
  algorithm: string;
  digits: number;
  periodSeconds: number;
}

/** "2026-11-22 12:00:59 UTC", the form oathtool's --now parses. */
function oathtoolTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

export function parseOtpauthUrl(url: string): AuthenticatorEntry {
  const parsed = new URL(url);
  if (parsed.protocol !== 'otpauth:' || parsed.host !== 'totp') throw new Error(`not a TOTP key URI: ${parsed.protocol}//${parsed.host}`);
  const label = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  const [labelIssuer, account] = label.includes(':') ? [label.slice(0, label.indexOf(':')), label.slice(label.indexOf(':') + 1)] : ['', label];
  const secret = parsed.searchParams.get('secret');
  if (!secret) throw new Error('the key URI has no secret');
  return {
    issuer: parsed.searchParams.get('issuer') ?? labelIssuer,
    account: account!,
    secretBase32: secret,
    algorithm: (parsed.searchParams.get('algorithm') ?? 'SHA1').toUpperCase(),
    digits: Number(parsed.searchParams.get('digits') ?? 6),
    periodSeconds: Number(parsed.searchParams.get('period') ?? 30),
  };
}

export class Phone {
  /** Entries in the authenticator app, oldest first (re-enrolling adds one; the old one stays until deleted). */
  readonly entries: AuthenticatorEntry[] = [];
  clockOffsetSeconds = 0;

  constructor(private readonly serverNowMs: () => number) {}

  /** Points the camera at a QR code on the page: decodes a screenshot of the element with zbarimg. */
  async scan(qr: Locator): Promise<AuthenticatorEntry> {
    const dir = mkdtempSync(join(tmpdir(), 'kairos-e2e-qr-'));
    try {
      const file = join(dir, 'qr.png');
      writeFileSync(file, await qr.screenshot());
      const decoded = execFileSync('zbarimg', ['--quiet', '--raw', file], { encoding: 'utf8', stdio: 'pipe' }).trim();
      const entry = parseOtpauthUrl(decoded);
      this.entries.push(entry);
      return entry;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  get latest(): AuthenticatorEntry {
    const entry = this.entries.at(-1);
    if (!entry) throw new Error('the authenticator app has no entries');
    return entry;
  }

  nowMs(): number {
    return this.serverNowMs() + this.clockOffsetSeconds * 1000;
  }

  /** The code the app shows now for `entry` (oathtool at the phone's time). */
  code(entry: AuthenticatorEntry = this.latest): string {
    const args = [
      `--totp=${entry.algorithm.toLowerCase()}`,
      '-d',
      String(entry.digits),
      '-s',
      `${entry.periodSeconds}s`,
      '--now',
      oathtoolTime(this.nowMs()),
      '-b',
      entry.secretBase32,
    ];
    return execFileSync('oathtool', args, { encoding: 'utf8', stdio: 'pipe' }).trim();
  }

  /** The phone is lost: no more entries. */
  lose(): void {
    this.entries.length = 0;
  }
}
