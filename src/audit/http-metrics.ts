import type { FastifyInstance } from 'fastify';
import { HTTP_DURATION_BUCKETS_SECONDS, type Metrics } from './metrics.js';

/**
 * Request count and latency by listener, method, route and status. The route is the registered pattern
 * (`/self-service/login`, `/admin/identities/:id`), never the raw URL, so identifiers and query strings do not
 * become label values; requests that match no route are counted under `route="(unmatched)"`.
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
  app.addHook('onResponse', (request, reply, done) => {
    const labels = { listener, method: request.method, route: request.routeOptions.url ?? '(unmatched)', status: String(reply.statusCode) };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
    done();
  });
}
