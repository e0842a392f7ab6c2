import { ensureBuilt } from './build.js';

/** vitest globalSetup: tests that spawn `kairos` run the compiled binary, so it must match the sources. */
export default function setup(): void {
  ensureBuilt();
}
