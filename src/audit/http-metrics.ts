import type { FastifyInstance } from 'fastify';
import { HTTP_DURATION_BUCKETS_SECONDS, type Metrics } from './metrics.js';

/**
 * Request count and latency by listener, method, route and status. The route is the registered pattern
 * (`/self-service/login`, `/admin/identities/:id`), never the raw URL, so identifiers and query strings do not
 * become label values; requests that match no route are counted under `route="(unmatched)"`.
 *
 * prom-client resolves a label object to its series on every `inc`/`observe` (sorting and joining the labels: 7% of
 * a whoami's CPU in the bench profile), so each label combination's series is looked up once and kept. The
 * combinations are bounded by the routes × methods × statuses Kairos answers.
 */
export function instrumentHttp(app: FastifyInstance, metrics: Metrics, listener: 'public' | 'admin'): void {
  const labelNames = ['listener', 'method', 'route', 'status'];
  const requests = metrics.counter('kairos_http_requests_total', 'HTTP requests answered, by listener, method, route pattern and status', labelNames);
  const duration = metrics.histogram(
    'kairos_http_request_duration_seconds',
    'Time from receiving an HTTP request to sending the response, by listener, method, route pattern and status',
    labelNames,
    HTTP_DURATION_BUCKETS_SECONDS,
  );
  const series = new Map<string, { count: () => void; observe: (seconds: number) => void }>();
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? '(unmatched)';
    const key = `${request.method} ${reply.statusCode} ${route}`;
    let one = series.get(key);
    if (!one) {
      const labels = { listener, method: request.method, route, status: String(reply.statusCode) };
      const counter = requests.labels(labels);
      const histogram = duration.labels(labels);
      one = { count: () => counter.inc(), observe: (seconds) => histogram.observe(seconds) };
      series.set(key, one);
    }
    one.count();
    one.observe(reply.elapsedTime / 1000);
    done();
  });
}
