/**
 * The friction report on the admin API: `GET /admin/reports/friction?since=90d` (or `since`/`until` as RFC 3339
 * times), answered as JSON, or as CSV with `format=csv` or `Accept: text/csv`. Same numbers as
 * `kairos report friction` (reports/friction.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { Deps } from '../deps.js';
import type { KairosModule } from '../module.js';
import { errors } from '../errors/http-error.js';
import { frictionCsv, frictionReport } from './friction.js';
import { reportPeriod } from './period.js';
import { createRuleOf } from './rule-of.js';

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
