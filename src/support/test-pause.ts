/**
 * Pause points for the crash tests (test/integration/crash.test.ts): a test kills the server (SIGKILL) while a step's
 * transaction is open, or right after it committed, and checks that the step happened entirely or not at all.
 *
 * Honoured only when the process was started with `KAIROS_TEST_HOOKS=1` and `KAIROS_TEST_PAUSE_FILE=<path>`: on
 * reaching a point, the server reads that file, and when it names this point (one name, e.g. `settings.before_commit`),
 * writes `kairos test pause: <point>` on stderr and waits there for ever (until it is killed). Without the variables
 * a point costs one comparison. `kairos serve` warns loudly at start when they are set; never set them in production.
 *
 * Points (see README "Tests"): `<flow>.before_commit` and `<flow>.after_commit` around every flow submission's unit of
 * work (`login`, `settings`, `recovery`, `registration`, `verification`), and inside steps: `totp.enrollment_written`
 * (credential, secret and audit written, codes and session not yet), `lookup_secret.consumed` (a recovery code
 * consumed at login, session not yet raised), `lockout.charged` (a wrong code charged to the identity, flow and audit
 * not yet).
 */
import { readFileSync } from 'node:fs';

const pauseFile = process.env.KAIROS_TEST_HOOKS === '1' ? (process.env.KAIROS_TEST_PAUSE_FILE ?? null) : null;

/** Whether pause points are live in this process (`kairos serve` warns at start). */
export const testHooksEnabled = pauseFile !== null;

function armedPoint(): string | null {
  try {
    return readFileSync(pauseFile!, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** A named pause point (see above); resolves at once unless a crash test armed this point. */
export function testPause(point: string): Promise<void> | undefined {
  if (pauseFile === null || armedPoint() !== point) return undefined;
  process.stderr.write(`kairos test pause: ${point}\n`);
  return new Promise<void>(() => {});
}
