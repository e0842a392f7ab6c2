import { defineConfig } from 'vitest/config';

/**
 * The end-to-end suite (`npm run test:e2e`): real Chromium (Debian's /usr/bin/chromium through playwright-core)
 * against Kairos servers the suite starts itself. Files run one after another in one worker, with long timeouts:
 * a browser start and argon2 hashing on a busy 2-core machine take seconds, never minutes.
 *
 * Screenshots of every step go to the run's temporary directory; `npm run test:e2e -- -u` (vitest's "update" flag)
 * or `KAIROS_E2E_UPDATE_SCREENSHOTS=1` also writes them to docs/screenshots/ for the README.
 */
const update = process.argv.includes('-u') || process.argv.includes('--update') || process.env.KAIROS_E2E_UPDATE_SCREENSHOTS === '1';

export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    sequence: { concurrent: false },
    env: { KAIROS_E2E_UPDATE_SCREENSHOTS: update ? '1' : '0' },
  },
});
