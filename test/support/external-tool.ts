import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/**
 * Tests that check Kairos against an independent program (oathtool, zbarimg). Locally a missing program skips the
 * suite with the reason in its title; when `CI` is set a missing program is a failure, so CI cannot go green by
 * silently testing nothing.
 */
export function isCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

export function isInstalled(command: string, versionArgs: readonly string[] = ['--version']): boolean {
  const result = spawnSync(command, versionArgs, { stdio: 'ignore', timeout: 10_000 });
  return result.error === undefined && result.status === 0;
}

/** `describe` that needs `command` (from Debian package `debianPackage`) on the PATH. */
export function describeWithTool(command: string, debianPackage: string, title: string, body: () => void): void {
  if (isInstalled(command)) {
    describe(title, body);
  } else if (isCi()) {
    describe(`${title} (${command} missing while CI is set: failing)`, () => {
      it(`${command} is installed (apt-get install ${debianPackage})`, () => {
        expect.fail(`${command} is not installed; CI must run the interop tests (apt-get install ${debianPackage})`);
      });
      body();
    });
  } else {
    describe.skip(`${title} (skipped: ${command} not installed; apt-get install ${debianPackage})`, body);
  }
}
