/**
 * The hosted UI, first version: server-rendered pages that render ANY flow's nodes with one generic renderer, so new
 * methods (TOTP, recovery codes) appear without page code. Works without JavaScript; every visible input has a label.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FlowEngine } from '../../flows/engine.js';
import type { FlowKind } from '../../flows/flow.js';
import type { UiNode } from '../nodes.js';
import type { UiText } from '../messages.js';
import { deriveAal } from '../../session/session.js';
import { LOW_REMAINING_CODES, lookupMsg } from '../../credentials/lookup-secret/messages.js';

export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const TITLES: Record<FlowKind, string> = {
  login: 'Sign in',
  registration: 'Create your account',
  settings: 'Account settings',
  recovery: 'Recover your account',
  verification: 'Verify your email address',
};

const GROUP_TITLES: Record<string, string> = {
  profile: 'Profile',
  password: 'Change password',
  totp: 'Authenticator app (TOTP)',
  lookup_secret: 'Backup recovery codes',
  code: 'Email code',
};

function css(color: string): string {
  return `:root{--brand:${color}}*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f5f7;color:#1f2430}
main{max-width:30rem;margin:2rem auto;padding:0 1rem}.card{background:#fff;border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.1);padding:1.5rem;margin-bottom:1rem}
h1{font-size:1.5rem;margin:0 0 1rem}h2{font-size:1.1rem;margin:0 0 .75rem}label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input[type=text],input[type=email],input[type=password],input[type=number],input[type=tel],input[type=url]{width:100%;padding:.7rem;border:1px solid #c5c9d3;border-radius:8px;font-size:1rem}
input:focus,button:focus{outline:3px solid var(--brand);outline-offset:1px}button{margin-top:1rem;width:100%;padding:.8rem;border:0;border-radius:8px;background:var(--brand);color:#fff;font-size:1rem;font-weight:600;cursor:pointer}
.msg{padding:.75rem;border-radius:8px;margin:.5rem 0}.msg.error{background:#fdecec;color:#8a1c1c}.msg.info{background:#eef2ff;color:#2b3a8c}.msg.success{background:#e8f7ee;color:#1d6b3a}
.secret{font-family:ui-monospace,monospace;font-size:1.1rem;letter-spacing:.05em;background:#f4f5f7;padding:.5rem;border-radius:6px;word-break:break-all}
.codes{display:grid;grid-template-columns:repeat(auto-fill,minmax(9rem,1fr));gap:.5rem;font-family:ui-monospace,monospace}.codes span{background:#f4f5f7;padding:.4rem;border-radius:6px;text-align:center}
img.qr{display:block;margin:.5rem auto;width:256px;max-width:100%;height:auto;image-rendering:pixelated}nav a{margin-right:1rem;color:var(--brand)}`;
}

function message(m: UiText): string {
  const steps = Array.isArray(m.context?.steps) ? `<ol>${(m.context!.steps as unknown[]).map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ol>` : '';
  return `<div class="msg ${escapeHtml(m.type)}" role="${m.type === 'error' ? 'alert' : 'status'}" data-testid="ui/message/${m.id}">${escapeHtml(m.text)}${steps}</div>`;
}

function groupsOf(secret: string): string {
  return secret.replace(/(.{4})/g, '$1 ').trim();
}

export function renderNode(node: UiNode, index: number): string {
  const a = node.attributes;
  const label = node.meta.label?.text;
  const messages = node.messages.map(message).join('');
  if (a.node_type === 'input') {
    if (a.type === 'hidden') return `<input type="hidden" name="${escapeHtml(a.name)}" value="${escapeHtml(a.value)}">`;
    if (a.type === 'submit' || a.type === 'button') {
      return `<button type="submit" name="${escapeHtml(a.name)}" value="${escapeHtml(a.value)}" data-testid="node/input/${escapeHtml(a.name)}">${escapeHtml(label ?? a.value)}</button>${messages}`;
    }
    const id = `n${index}-${a.name.replace(/[^a-z0-9_-]/gi, '-')}`;
    const attrs = [
      `id="${id}"`,
      `name="${escapeHtml(a.name)}"`,
      `type="${escapeHtml(a.type)}"`,
      a.value !== undefined && a.type !== 'password' ? `value="${escapeHtml(a.value)}"` : '',
      a.required ? 'required' : '',
      a.autocomplete ? `autocomplete="${escapeHtml(a.autocomplete)}"` : '',
      a.inputmode ? `inputmode="${escapeHtml(a.inputmode)}"` : '',
      a.pattern ? `pattern="${escapeHtml(a.pattern)}"` : '',
      a.maxlength ? `maxlength="${a.maxlength}"` : '',
      a.disabled ? 'disabled' : '',
      `data-testid="node/input/${escapeHtml(a.name)}"`,
    ].filter(Boolean).join(' ');
    return `<label for="${id}">${escapeHtml(label ?? a.name)}</label><input ${attrs}>${messages}`;
  }
  if (a.node_type === 'img') {
    return `<figure><img class="qr" src="${escapeHtml(a.src)}" width="${a.width}" height="${a.height}" alt="${escapeHtml(label ?? 'QR code')}"><figcaption>${escapeHtml(label ?? '')}</figcaption></figure>`;
  }
  if (a.node_type === 'text') {
    const secrets = a.text.context?.secrets;
    const body = Array.isArray(secrets)
      ? `<div class="codes">${(secrets as UiText[]).map((s) => `<span>${escapeHtml(s.text)}</span>`).join('')}</div>`
      : `<div class="secret">${escapeHtml(a.id === 'totp_secret_key' ? groupsOf(a.text.text) : a.text.text)}</div>`;
    return `<div data-testid="node/text/${escapeHtml(a.id)}/label">${escapeHtml(label ?? '')}</div><div data-testid="node/text/${escapeHtml(a.id)}/text">${body}</div>${messages}`;
  }
  if (a.node_type === 'a') return `<p><a href="${escapeHtml(a.href)}">${escapeHtml(a.title.text)}</a></p>`;
  return '';
}

function page(title: string, brand: { name: string; primary_color: string }, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)} · ${escapeHtml(brand.name)}</title><style>${css(brand.primary_color)}</style></head><body><main><p><strong>${escapeHtml(brand.name)}</strong></p>${body}</main></body></html>`;
}

export function renderFlowPage(kind: FlowKind, flow: Record<string, any>, brand: { name: string; primary_color: string }): string {
  const ui = flow.ui as { action: string; method: string; nodes: UiNode[]; messages?: UiText[] };
  const csrf = ui.nodes.filter((n) => n.group === 'default' && n.attributes.node_type === 'input' && n.attributes.type === 'hidden');
  const title = kind === 'login' && flow.requested_aal === 'aal2' ? 'Two-Factor Authentication' : TITLES[kind];
  const top = (ui.messages ?? []).map(message).join('');
  let forms: string;
  // One form per method where several are offered side by side (settings; the aal2 step with TOTP and a backup
  // code), so each form's required input belongs to the button that submits it.
  if (kind === 'settings' || (kind === 'login' && flow.requested_aal === 'aal2')) {
    const groups = [...new Set(ui.nodes.filter((n) => n.group !== 'default').map((n) => n.group))];
    forms = groups
      .map((group) => {
        const nodes = ui.nodes.filter((n) => n.group === group);
        return `<section class="card"><h2>${escapeHtml(GROUP_TITLES[group] ?? group)}</h2><form method="POST" action="${escapeHtml(ui.action)}">${csrf.map((n, i) => renderNode(n, i)).join('')}${nodes.map((n, i) => renderNode(n, i + 100)).join('')}</form></section>`;
      })
      .join('');
  } else {
    forms = `<div class="card"><form method="POST" action="${escapeHtml(ui.action)}">${ui.nodes.map((n, i) => renderNode(n, i)).join('')}</form></div>`;
  }
  const links =
    kind === 'login'
      ? `<nav><a href="/ui/registration">Create an account</a><a href="/self-service/recovery/browser">Lost your authenticator and codes?</a></nav>`
      : kind === 'registration'
        ? `<nav><a href="/ui/login">Already have an account? Sign in</a></nav>`
        : `<nav><a href="/ui/welcome">Back</a></nav>`;
  return page(title, brand, `<h1>${escapeHtml(title)}</h1>${top}${forms}${links}`);
}

export async function hostedUiRoutes(app: FastifyInstance, options: { engine: FlowEngine }) {
  const { engine } = options;
  const brand = engine.deps.config.ui.brand;
  const html = (reply: FastifyReply, body: string, status = 200) =>
    reply.code(status).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(body);

  app.get('/ui', (_request, reply) => reply.redirect('/ui/welcome', 303));
  for (const kind of ['login', 'registration', 'settings', 'recovery', 'verification'] as FlowKind[]) {
    app.get(`/ui/${kind}`, async (request: FastifyRequest, reply) => {
      const query = request.query as Record<string, string | undefined>;
      if (!query.flow) {
        const carry: Record<string, string | undefined> = { return_to: query.return_to, aal: query.aal, refresh: query.refresh };
        return reply.redirect(engine.deps.urls.browserInit(kind, carry), 303);
      }
      const flow = await engine.deps.flows.get(query.flow);
      if (!flow || flow.kind !== kind || engine.isExpired(flow)) return reply.redirect(engine.deps.urls.browserInit(kind), 303);
      if (kind === 'settings') {
        const current = await engine.currentSession(request);
        if (!current || current.identity.id !== flow.identityId) return reply.redirect(engine.deps.urls.browserInit('login'), 303);
      }
      return html(reply, renderFlowPage(kind, await engine.flowJson(flow, request, reply), brand));
    });
  }
  app.get('/ui/error', async (request, reply) => {
    const id = (request.query as Record<string, string | undefined>).id;
    const row = id ? await engine.deps.db.selectFrom('selfservice_errors').selectAll().where('id', '=', id).executeTakeFirst() : undefined;
    const error = row ? JSON.parse(row.error) : { message: 'Something went wrong.', reason: 'The error could not be found.' };
    return html(reply, page('Error', brand, `<h1>Something went wrong</h1><div class="card">${message({ id: 0, type: 'error', text: error.reason ?? error.message })}<p>${escapeHtml(error.message)}</p><nav><a href="/ui/login">Sign in again</a><a href="/ui/welcome">Home</a></nav></div>`));
  });
  app.get('/ui/welcome', async (request, reply) => {
    const current = await engine.currentSession(request);
    if (!current) return html(reply, page('Welcome', brand, `<h1>Welcome</h1><div class="card"><p>You are not signed in.</p><nav><a href="/ui/login">Sign in</a><a href="/ui/registration">Create an account</a></nav></div>`));
    const methods = current.session.amr.map((e) => escapeHtml(e.method)).join(', ');
    const email = escapeHtml((current.identity.traits as Record<string, unknown>).email ?? current.identity.id);
    // Few recovery codes left: warn, with a link to regenerate (issue 4).
    const remaining = ((await engine.sessionExtras(current.identity.id)).kairos as Record<string, unknown> | undefined)?.recovery_codes_remaining;
    const codesWarning =
      typeof remaining === 'number' && remaining <= LOW_REMAINING_CODES
        ? `${message(remaining === 0 ? lookupMsg.codesExhausted('/ui/settings') : lookupMsg.codesLow(remaining, '/ui/settings'))}<p><a href="/ui/settings" data-testid="regenerate-recovery-codes">Generate new backup recovery codes</a></p>`
        : '';
    return html(
      reply,
      page('Welcome', brand, `<h1>Welcome</h1>${codesWarning}<div class="card"><p>Signed in as <strong>${email}</strong>.</p><p>Assurance level: <strong>${deriveAal(current.session.amr)}</strong> (methods: ${methods}).</p><nav><a href="/ui/settings">Account settings</a><a href="/ui/logout">Sign out</a></nav></div>`),
    );
  });
  app.get('/ui/logout', async (request, reply) => {
    const current = await engine.currentSession(request);
    if (!current) return reply.redirect('/ui/login', 303);
    const token = await engine.deps.sessions.issueLogoutToken(current.session.id);
    return reply.redirect(engine.deps.urls.public('/self-service/logout', { token }), 303);
  });
}
