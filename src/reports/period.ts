/** The period of a friction report, as the admin API and the CLI take it. */
import { errors } from '../errors/http-error.js';
import { parseSince } from './friction.js';

/** `since`/`until` of a request: a relative `90d` or an RFC 3339 time; default the last 90 days up to now. */
export function reportPeriod(query: Record<string, unknown>, nowMs: number): { sinceMs: number; untilMs: number } {
  const time = (name: string, value: unknown): number | null => {
    if (value === undefined || value === '') return null;
    if (typeof value !== 'string' || value.length > 64) throw errors.badRequest(`${name} must be a duration such as 90d or an RFC 3339 time`);
    if (/^\d+[hdw]$/.test(value)) {
      try {
        return nowMs - parseSince(value);
      } catch (err) {
        throw errors.badRequest(`${name}: ${(err as Error).message}`);
      }
    }
    const ms = Date.parse(value);
    if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(ms)) throw errors.badRequest(`${name} must be a duration such as 90d or an RFC 3339 time`);
    return ms;
  };
  const untilMs = time('until', query.until) ?? nowMs;
  const sinceMs = time('since', query.since) ?? untilMs - parseSince('90d');
  if (sinceMs >= untilMs) throw errors.badRequest('since must be before until');
  if (untilMs - sinceMs > parseSince('156w')) throw errors.badRequest('the period must be at most 3 years');
  return { sinceMs, untilMs };
}
