/**
 * The friction report on the admin API: `GET /admin/reports/friction?since=90d` (or `since`/`until` as RFC 3339
 * times), answered as JSON, or as CSV with `format=csv` or `Accept: text/csv`. Same numbers as
 * `kairos report friction` (reports/friction.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { Deps } from '../deps.js';
import type { KairosModule } from '../module.js';
import { errors } from '../errors/http-error.js';
import { frictionCsv, frictionReport, parseSince } from './friction.js';
import { createRuleOf } from './rule-of.js';

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

export function reportsModule(deps: Deps): KairosModule {
  const { ruleOf } = createRuleOf(deps.config, deps.clock);
  return {
    name: 'reports',
    adminRoutes(app: FastifyInstance) {
      app.get('/admin/reports/friction', async (request, reply) => {
        const query = request.query as Record<string, unknown>;
        const { sinceMs, untilMs } = reportPeriod(query, deps.clock.nowMs());
        const report = await frictionReport(deps.db, { sinceMs, untilMs, nowMs: deps.clock.nowMs(), ruleOf });
        const csv = query.format === 'csv' || (query.format === undefined && /\btext\/csv\b/.test(String(request.headers.accept ?? '')));
        if (query.format !== undefined && query.format !== 'csv' && query.format !== 'json') throw errors.badRequest('format must be json or csv');
        if (csv) return reply.type('text/csv; charset=utf-8').send(frictionCsv(report));
        return reply.send(report);
      });
    },
  };
}
