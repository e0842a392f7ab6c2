/** `kairos report friction` (cli/report-command.ts): reads the database in the config, prints the report. */
import { openStorage } from '../storage/db.js';
import { systemClock, type Clock } from '../support/clock.js';
import { HttpError } from '../errors/http-error.js';
import { frictionCsv, frictionReport, frictionText } from './friction.js';
import { reportPeriod } from './period.js';
import { createRuleOf, DEFAULT_RULE } from './rule-of.js';
import type { KairosConfig } from '../config/schema.js';

export async function runFrictionReport(
  dsn: string,
  options: { since?: string; until?: string; json?: boolean; csv?: boolean },
  out: (text: string) => void,
  err: (text: string) => void,
  clock: Clock = systemClock,
  /** The config (its MFA policies group the report by rule); without one, every identity is under `default`. */
  config: KairosConfig | null = null,
): Promise<number> {
  const nowMs = clock.nowMs();
  let period;
  try {
    period = reportPeriod({ since: options.since ?? '90d', until: options.until }, nowMs);
  } catch (e) {
    if (e instanceof HttpError) {
      err(`kairos report friction: ${String(e.body.reason ?? e.body.message)}\n`);
      return 2;
    }
    throw e;
  }
  const storage = openStorage(dsn, { readOnly: true, poolSize: 1 });
  try {
    const ruleOf = config ? createRuleOf(config, clock).ruleOf : () => DEFAULT_RULE;
    const report = await frictionReport(storage.db, { ...period, nowMs, ruleOf });
    out(options.json ? JSON.stringify(report, null, 2) + '\n' : options.csv ? frictionCsv(report) : frictionText(report));
    return 0;
  } finally {
    await storage.close();
  }
}
