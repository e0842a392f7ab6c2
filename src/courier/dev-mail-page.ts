/** `/ui/dev/mail`: the mail the development sink received (dev mode only; never registered otherwise). */
import type { FastifyInstance } from 'fastify';
import type { DevMailSink } from './dev-sink.js';

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export async function devMailRoutes(app: FastifyInstance, sink: DevMailSink): Promise<void> {
  app.get('/ui/dev/mail', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    if ((request.headers.accept ?? '').includes('application/json')) return reply.send(sink.messages);
    const items = sink.messages
      .map((m) => `<article><h2>${escapeHtml(m.subject)}</h2><p>To: ${escapeHtml(m.to)} · ${escapeHtml(m.receivedAt)}</p><pre>${escapeHtml(m.text)}</pre></article>`)
      .join('');
    return reply
      .type('text/html; charset=utf-8')
      .send(
        `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Development mail</title><style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}pre{white-space:pre-wrap;background:#f4f4f5;padding:1rem}.dev{background:#fef3c7;padding:.5rem 1rem}</style></head><body><p class="dev">Development mode only: mail sent by Kairos is caught here instead of being delivered.</p><h1>Development mail (${sink.messages.length})</h1>${items || '<p>No mail yet.</p>'}</body></html>`,
      );
  });
}
