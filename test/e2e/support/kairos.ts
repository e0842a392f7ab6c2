/**
 * The Kairos the e2e suite runs against: the integration harness (real listeners on loopback, a fresh SQLite file or
 * PostgreSQL schema) with its injected clock set to the real time at start, so the browser's cookie expiries agree
 * with the server. The suite moves the clock forward (one TOTP step at a time) instead of sleeping.
 */
import { deepMerge } from '../../../src/config/load.js';
import { ManualClock } from '../../../src/support/clock.js';
import { startKairos, type Dialect, type TestDatabase, type TestKairos } from '../../support/harness.js';

export const E2E_BRAND = { name: 'Acme Cloud', primary_color: '#0b6e4f' };

/**
 * `options.database` reuses a database (a restart with another configuration, as a rollout is), `options.clock`
 * keeps the time of an earlier instance.
 */
export function startE2eKairos(dialect: Dialect, config: Record<string, unknown> = {}, options: { database?: TestDatabase; clock?: ManualClock } = {}): Promise<TestKairos> {
  const base = {
    ui: { brand: E2E_BRAND },
    serve: { public: { rate_limit: { enabled: false } } },
    selfservice: {
      methods: { totp: { enabled: true, config: { issuer: E2E_BRAND.name } } },
      // The suite moves the clock by whole TOTP steps; a long privileged window keeps re-authentication out of
      // scenarios that are not about it.
      flows: { settings: { privileged_session_max_age: '1h' } },
    },
  };
  // A real browser needs real sockets.
  return startKairos({
    dialect,
    config: deepMerge(base, config),
    clock: options.clock ?? new ManualClock(Math.floor(Date.now() / 1000) * 1000),
    transport: 'socket',
    ...(options.database ? { database: options.database } : {}),
  });
}

let counter = 0;
export function newEmail(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${++counter}@example.com`;
}

export const PASSWORD = 'correct horse battery staple';
