import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Tests that check Kairos against an independent program (oathtool, zbarimg). Three cases, told apart on purpose:
 * - the program is not on the PATH: locally the suite is skipped with the reason in its title; when `CI` is set it
 *   fails, so CI cannot go green by silently testing nothing;
 * - the program is on the PATH but its probe (`--version`) fails or times out: always a failure, with the reason.
 *   A broken install, or a probe starved on a loaded machine, must not turn a whole suite into skips (it once
 *   skipped all 15 TOTP-diagnosis tests);
 * - the probe succeeds: the suite runs.
 */
export function isCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/** The program's path on the PATH, or null. Finding it runs nothing, so load cannot make it fail. */
export function whichOnPath(command: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return null;
}

/** Generous: the probe only has to start the program once, on a machine that may be busy. */
const PROBE_TIMEOUT_MS = 60_000;

export type ToolStatus = { state: 'missing' } | { state: 'broken'; reason: string } | { state: 'ok' };

export function probeTool(command: string, versionArgs: readonly string[] = ['--version']): ToolStatus {
  const path = whichOnPath(command);
  if (path === null) return { state: 'missing' };
  const result = spawnSync(path, versionArgs, { encoding: 'utf8', timeout: PROBE_TIMEOUT_MS });
  if (result.error) return { state: 'broken', reason: `${path} ${versionArgs.join(' ')}: ${result.error.message}` };
  if (result.status !== 0) return { state: 'broken', reason: `${path} ${versionArgs.join(' ')} exited ${result.status ?? result.signal}: ${(result.stderr || result.stdout).trim().slice(0, 300)}` };
  return { state: 'ok' };
}

/** `describe` that needs `command` (from Debian package `debianPackage`) on the PATH. */
export function describeWithTool(command: string, debianPackage: string, title: string, body: () => void): void {
  const status = probeTool(command);
  if (status.state === 'ok') {
    describe(title, body);
  } else if (status.state === 'broken') {
    describe(`${title} (${command} is installed but does not run: failing)`, () => {
      it(`${command} runs`, () => {
        expect.fail(`${command} is on the PATH but its probe failed: ${status.reason}`);
      });
    });
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
