/**
 * Kratos serves identity schemas on the public API and redirects the admin API's `/schemas` and `/schemas/{id}`
 * there (schema/handler.go RegisterAdminRoutes), so admin SDK clients (`IdentityApi.listIdentitySchemas`) work.
 */
import type { FastifyInstance } from 'fastify';
import type { KairosConfig } from '../../config/schema.js';

export async function adminSchemaRoutes(app: FastifyInstance, options: { config: KairosConfig }) {
  const toPublic = (path: string, search: string) => new URL(path.replace(/^\//, '') + search, options.config.serve.public.base_url).toString();
  for (const route of ['/schemas', '/schemas/:id']) {
    app.get(route, async (request, reply) => {
      const url = new URL(request.url, 'http://admin.invalid');
      return reply.redirect(toPublic(url.pathname, url.search), 307);
    });
  }
}
