/**
 * The hosted UI: server-rendered pages that render ANY flow's nodes with one generic renderer (render.ts), so new
 * methods appear without page code. Works without JavaScript (the script only adds copy and print buttons); every
 * visible input has a label; the brand name and colour come from `ui.brand`.
 *
 * What the pages add around the nodes is presentation only: a heading and help text per flow and group, a summary of
 * the enrolled factors on the settings page, and links between second factors ("Use a backup code").
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FlowEngine } from '../../flows/engine.js';
import type { FlowKind } from '../../flows/flow.js';
import type { Identity } from '../../identity/identity.js';
import type { UiNode } from '../nodes.js';
import { hostedUiMsg, type UiText } from '../messages.js';
import { deriveAal } from '../../session/session.js';
import { LOW_REMAINING_CODES, lookupMsg } from '../../credentials/lookup-secret/messages.js';
import { escapeHtml, HOSTED_UI_SCRIPT, page, SCRIPT_PATH, type Brand } from './layout.js';
import { isKairosMessage, renderMessage, renderNode, SECRET_MESSAGE_ID, type RenderContext } from './render.js';

export { escapeHtml } from './layout.js';
export { renderNode } from './render.js';

const TITLES: Record<FlowKind, string> = {
  login: 'Sign in',
  registration: 'Create your account',
  settings: 'Account settings',
  recovery: 'Recover your account',
  verification: 'Verify your email address',
};

const LEADS: Partial<Record<FlowKind, string>> = {
  login: 'Sign in with your email address and password.',
  registration: 'Use your email address and a password you do not use anywhere else.',
  settings: 'Manage how you sign in. Changing a password or a second factor may ask you to sign in again first.',
  recovery: 'Enter the email address of your account. We will send you a code to get back in.',
  verification: 'Enter your email address and we will send you a code to confirm it.',
};

/** Recovery and verification go through steps: the lead follows what the form asks for now. */
function leadFor(kind: FlowKind, flow: Record<string, any>, nodes: UiNode[]): string {
  if ((kind === 'recovery' || kind === 'verification') && flow.state !== 'choose_method') {
    const asksForCode = nodes.some((n) => n.attributes.node_type === 'input' && n.attributes.name === 'code' && n.attributes.type !== 'hidden');
    return asksForCode ? 'Enter the code we sent to your email address. It works once and expires soon.' : '';
  }
  return LEADS[kind] ?? '';
}

/** What each group is called, and the help shown above its form, by what the group's nodes offer. */
function groupPresentation(kind: FlowKind, group: string, nodes: UiNode[]): { title: string; help: string } {
  const has = (name: string) => nodes.some((n) => (n.attributes.node_type === 'input' ? n.attributes.name : n.attributes.id) === name);
  const hasCodesList = nodes.some((n) => n.attributes.node_type === 'text' && Array.isArray(n.attributes.text.context?.secrets));
  switch (group) {
    case 'totp':
      if (kind === 'login') return { title: 'Authenticator app', help: 'Open the authenticator app on your phone and enter the code it shows for this account. Codes change every 30 seconds.' };
      if (nodes.some((n) => n.attributes.node_type === 'img'))
        return {
          title: 'Set up an authenticator app',
          help: '<ol><li>Install an authenticator app on your phone, for example Google Authenticator, Microsoft Authenticator, 1Password or FreeOTP.</li><li>In the app, add an account and scan this QR code. If you cannot scan it, type the secret key shown below it.</li><li>Enter the code the app shows and select Save.</li></ol>',
        };
      if (has('totp_unlink')) return { title: 'Authenticator app', help: 'Your authenticator app is set up. To remove it, enter a current code from the app (lost the phone? one of your backup recovery codes works too), then select Unlink.' };
      return { title: 'Authenticator app', help: '' };
    case 'lookup_secret':
      if (kind === 'login') return { title: 'Use a backup code', help: 'Enter one of the backup codes you saved when you set up two-factor authentication. Each code works once.' };
      if (hasCodesList)
        return {
          title: 'Save your backup codes',
          help: 'If you lose your phone, each of these codes signs you in once. Keep them somewhere safe, such as a password manager, or print them. They will not be shown again in full.',
        };
      return { title: 'Backup codes', help: 'Backup codes let you sign in when you do not have your phone with you.' };
    case 'password':
      return kind === 'settings' ? { title: 'Change password', help: '' } : { title: 'Password', help: '' };
    case 'profile':
      return { title: 'Profile', help: '' };
    case 'code':
      return { title: 'Email code', help: '' };
    case 'webauthn':
      if (kind === 'login') return { title: 'Security key', help: 'Insert or hold your security key near the device, select the button, and touch the key when it blinks.' };
      return { title: 'Security keys', help: 'A security key (USB, NFC or built into this device) is the strongest second factor: it only answers this site, so it cannot be phished. Register a backup key too, and keep it somewhere safe.' };
    case 'passkey':
      if (kind === 'login') return { title: 'Passkey', help: 'Sign in without a password, with the passkey saved on this device, your phone or your password manager.' };
      return { title: 'Passkeys', help: 'A passkey signs you in without a password, unlocked by your fingerprint, face or device PIN.' };
    case 'recovery_address':
      return { title: 'Recovery email addresses', help: 'Another address where we can send you a code if you lose access to your account.' };
    default:
      return { title: group, help: '' };
  }
}

/** Link texts to switch between second factors on the second-factor page. */
const SWITCH_TO: Record<string, string> = {
  totp: 'Use your authenticator app',
  lookup_secret: 'Use a backup code',
  code: 'Email me a code',
  webauthn: 'Use a security key',
};

/** A factor on the settings page ("Authenticator app — added 1 Dec 2026, 20:31 UTC"). */
export interface FactorSummary {
  type: string;
  label: string;
  enrolled: boolean;
  sinceMs: number | null;
}

const FACTOR_LABELS: Record<string, string> = {
  password: 'Password',
  totp: 'Authenticator app',
  lookup_secret: 'Backup codes',
  webauthn: 'Security key',
  passkey: 'Passkey',
  code: 'Email code',
};

export function formatWhen(ms: number): string {
  return `${new Date(ms).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })} UTC`;
}

function factorsCard(factors: FactorSummary[]): string {
  if (factors.length === 0) return '';
  const items = factors
    .map(
      (f) =>
        `<li data-testid="ui/factor/${escapeHtml(f.type)}" data-enrolled="${f.enrolled}"><span>${escapeHtml(f.label)}${f.enrolled && f.sinceMs !== null ? `<span class="when">Added ${escapeHtml(formatWhen(f.sinceMs))}</span>` : ''}</span><span class="badge ${f.enrolled ? 'on' : 'off'}">${f.enrolled ? 'Set up' : 'Not set up'}</span></li>`,
    )
    .join('');
  return `<section class="card" aria-labelledby="factors-h"><h2 id="factors-h">How you sign in</h2><ul class="factors">${items}</ul></section>`;
}

interface FlowUi {
  action: string;
  method: string;
  nodes: UiNode[];
  messages?: UiText[];
}

export interface FlowPageOptions {
  factors?: FactorSummary[];
  /** Flow kinds the server runs (links to recovery only when it exists). */
  flowKinds?: FlowKind[];
}

function groupForm(kind: FlowKind, group: string, ui: FlowUi, csrf: UiNode[], context: RenderContext, attrs: { className: string; open?: boolean }): string {
  const nodes = ui.nodes.filter((n) => n.group === group);
  const { title, help } = groupPresentation(kind, group, nodes);
  const hasOwnLink = nodes.some((n) => n.attributes.node_type === 'a');
  // Consecutive links (download, print…) sit side by side as one row of actions.
  let body = '';
  let links = '';
  nodes.forEach((n, i) => {
    const html = renderNode(n, i, { ...context, idPrefix: `${group}-` }, { withDownload: !hasOwnLink });
    if (n.attributes.node_type === 'a') {
      links += html;
      return;
    }
    if (links) body += `<div class="actions no-print">${links}</div>`;
    links = '';
    body += html;
  });
  if (links) body += `<div class="actions no-print">${links}</div>`;
  const headingId = `h-${group}`;
  return `<section class="card ${attrs.className}${attrs.open ? ' open' : ''}" id="method-${escapeHtml(group)}" aria-labelledby="${headingId}" data-testid="ui/group/${escapeHtml(group)}"><h2 id="${headingId}">${escapeHtml(title)}</h2>${help ? `<div class="help">${help}</div>` : ''}<form method="POST" action="${escapeHtml(ui.action)}">${csrf.map((n, i) => renderNode(n, i, context)).join('')}${body}</form></section>`;
}

export function renderFlowPage(kind: FlowKind, flow: Record<string, any>, brand: Brand, options: FlowPageOptions = {}): string {
  const ui = flow.ui as FlowUi;
  const kinds = options.flowKinds ?? ['login', 'registration', 'settings'];
  const context: RenderContext = { idPrefix: 'n', brandName: brand.name };
  const csrf = ui.nodes.filter((n) => n.group === 'default' && n.attributes.node_type === 'input' && n.attributes.type === 'hidden');
  const groups = [...new Set(ui.nodes.filter((n) => n.group !== 'default').map((n) => n.group))];
  const secondFactor = kind === 'login' && flow.requested_aal === 'aal2';
  const refresh = kind === 'login' && flow.refresh === true && !secondFactor;
  const title = secondFactor ? 'Two-Factor Authentication' : refresh ? 'Confirm it is you' : TITLES[kind];
  const lead = secondFactor
    ? 'Your account is protected with a second step. Confirm it is you to continue.'
    : refresh
      ? 'For your security, enter your password again before changing sign-in settings.'
      : leadFor(kind, flow, ui.nodes);
  const messages = ui.messages ?? [];
  const top = messages.map((m) => renderMessage(m)).join('');
  let forms: string;
  const links: string[] = [];
  if (kind === 'settings') {
    // New codes to save come first: nothing else on the page matters until they are saved.
    const showsNewCodes = (g: string) =>
      ui.nodes.some((n) => n.group === g && n.attributes.node_type === 'text' && Array.isArray(n.attributes.text.context?.secrets) && (n.attributes.text.context.secrets as UiText[]).some((x) => x.id === SECRET_MESSAGE_ID));
    const renderGroups = (list: string[]) => list.map((g) => groupForm(kind, g, ui, csrf, context, { className: '' })).join('');
    const urgent = groups.filter(showsNewCodes);
    forms = renderGroups(urgent) + factorsCard(options.factors ?? []) + renderGroups(groups.filter((g) => !urgent.includes(g)));
    links.push(`<a href="/ui/welcome">Back to your account</a>`);
  } else if (secondFactor) {
    // One form per second factor. The first is shown; the others behind a link that works without JavaScript
    // (CSS :target). After a failed attempt every option is shown, so a rejected code always has a way forward.
    const failed = messages.some((m) => m.type === 'error') || ui.nodes.some((n) => n.messages.some((m) => m.type === 'error'));
    forms = groups
      .map((g, i) => {
        const hasMessages = ui.nodes.some((n) => n.group === g && n.messages.length > 0);
        return groupForm(kind, g, ui, csrf, context, { className: i === 0 ? 'primary' : 'alt', open: i > 0 && (failed || hasMessages) });
      })
      .join('');
    if (groups.length === 0) forms = `<div class="card"><p>You have no second factor set up that can be used here.</p></div>`;
    const switches = groups.map((g) => `<a href="#method-${escapeHtml(g)}" data-testid="ui/switch/${escapeHtml(g)}">${escapeHtml(SWITCH_TO[g] ?? g)}</a>`);
    if (groups.length > 1) forms += `<div class="alt-links">${switches.slice(1).join('')}${switches[0]}</div>`;
    if (kinds.includes('recovery')) links.push(`<a href="/ui/logout?then=recovery" data-testid="ui/link/lost-second-factor">Lost your authenticator and codes?</a>`);
    links.push(`<a href="/ui/logout">Sign out</a>`);
  } else {
    // A passkey is an alternative to the whole identifier + password form: its button comes after it.
    const ordered = [...ui.nodes.filter((n) => n.group !== 'passkey'), ...ui.nodes.filter((n) => n.group === 'passkey')];
    forms = `<div class="card"><form method="POST" action="${escapeHtml(ui.action)}">${ordered.map((n, i) => renderNode(n, i, context)).join('')}</form></div>`;
    if (kind === 'login') {
      if (kinds.includes('registration')) links.push(`<a href="/ui/registration">Create an account</a>`);
      if (kinds.includes('recovery') && !refresh) links.push(`<a href="/ui/recovery">Forgot your password?</a>`);
    } else if (kind === 'registration') links.push(`<a href="/ui/login">Already have an account? Sign in</a>`);
    else links.push(`<a href="/ui/login">Back to sign in</a>`);
  }
  return page(title, brand, `<h1>${escapeHtml(title)}</h1>${lead ? `<p class="lead">${escapeHtml(lead)}</p>` : ''}${top}${forms}<nav class="links" aria-label="More options">${links.join('')}</nav>`);
}

/** What an error page says, by Kratos error id: what happened and what to do next. */
const ERROR_EXPLANATIONS: Record<string, { title: string; explain: string; next: string }> = {
  security_csrf_violation: {
    title: 'This form could not be verified',
    explain: 'The form was sent without the security cookie this browser received when it was opened. This happens when cookies are blocked, or when a form is opened in one browser or tab and sent from another.',
    next: 'Allow cookies for this site and start again from the sign-in page.',
  },
  self_service_flow_expired: {
    title: 'This page has expired',
    explain: 'Forms are valid for a limited time, to protect your account.',
    next: 'Start again; your details have not been changed.',
  },
  session_aal2_required: {
    title: 'A second step is needed',
    explain: 'Your account is protected with two-factor authentication, and this page needs it.',
    next: 'Sign in again and complete the second step.',
  },
  session_refresh_required: {
    title: 'Please sign in again',
    explain: 'Changing sign-in settings needs a recent sign-in.',
    next: 'Sign in again, then retry.',
  },
  session_inactive: { title: 'You are not signed in', explain: 'Your session has ended or you signed out.', next: 'Sign in to continue.' },
  security_identity_mismatch: {
    title: 'This page belongs to another account',
    explain: 'The page was opened for a different account than the one signed in in this browser.',
    next: 'Sign out, then sign in with the right account.',
  },
  self_service_flow_return_to_forbidden: {
    title: 'That destination is not allowed',
    explain: 'The link asked to send you to an address this site does not trust.',
    next: 'Go back to the site you came from and try its sign-in link again.',
  },
  rate_limit_exceeded: { title: 'Too many attempts', explain: 'Too many requests came from your network in a short time.', next: 'Wait a minute, then try again.' },
};

export function renderErrorPage(error: Record<string, any> | null, brand: Brand): string {
  const known = error && typeof error.id === 'string' ? ERROR_EXPLANATIONS[error.id] : undefined;
  const title = known?.title ?? (error ? 'Something went wrong' : 'This error could not be found');
  const explain = known?.explain ?? (error ? String(error.reason ?? error.message ?? '') : 'The link to this error is wrong, or the error is too old and has been removed.');
  const next = known?.next ?? 'Start again from the sign-in page. If it keeps happening, contact support and mention the details below.';
  const details = error
    ? `<details><summary>Details for support</summary><dl class="details">${error.id ? `<dt>Error</dt><dd>${escapeHtml(error.id)}</dd>` : ''}${error.code ? `<dt>Status</dt><dd>${escapeHtml(error.code)} ${escapeHtml(error.status ?? '')}</dd>` : ''}${error.message ? `<dt>Message</dt><dd>${escapeHtml(error.message)}</dd>` : ''}${error.reason && known ? `<dt>Reason</dt><dd>${escapeHtml(error.reason)}</dd>` : ''}</dl></details>`
    : '';
  const body = `<h1>${escapeHtml(title)}</h1><div class="card" data-testid="ui/error"><p>${escapeHtml(explain)}</p><p><strong>What you can do:</strong> ${escapeHtml(next)}</p>${details}<nav class="links" aria-label="Next steps"><a class="button" href="/ui/login">Sign in again</a><a href="/ui/welcome">Home</a></nav></div>`;
  return page('Error', brand, body);
}

/** The factors the settings page lists: password (when enabled) and every second factor the server offers. */
export function factorSummaries(engine: FlowEngine, identity: Identity): FactorSummary[] {
  const types = [...(engine.deps.config.selfservice.methods.password.enabled ? ['password'] : []), ...engine.deps.secondFactorTypes];
  return types.map((type) => {
    const credential = identity.credentials[type];
    return { type, label: FACTOR_LABELS[type] ?? type, enrolled: Boolean(credential), sinceMs: credential ? credential.createdAtMs : null };
  });
}

/** How long after a sign-in step the welcome page repeats what that step said (e.g. "9 backup codes remain"). */
const STEP_MESSAGES_SHOWN_FOR_MS = 10 * 60_000;

/**
 * Kairos's own messages from the login step that last raised this session (a browser is redirected after it, so the
 * page it lands on shows them): the remaining-codes warning after a backup code, for example.
 */
async function lastStepMessages(engine: FlowEngine, sessionId: string, lastStepAtMs: number | null): Promise<UiText[]> {
  if (lastStepAtMs === null || engine.deps.clock.nowMs() - lastStepAtMs > STEP_MESSAGES_SHOWN_FOR_MS) return [];
  const row = await engine.deps.db
    .selectFrom('selfservice_flows')
    .select(['ui', 'updated_at'])
    .where('session_id', '=', sessionId)
    .where('kind', '=', 'login')
    .where('state', '=', 'passed_challenge')
    .where('updated_at', '>=', lastStepAtMs)
    .orderBy('updated_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!row) return [];
  const ui = JSON.parse(row.ui) as FlowUi;
  return (ui.messages ?? []).filter(isKairosMessage);
}

export async function hostedUiRoutes(app: FastifyInstance, options: { engine: FlowEngine; flowKinds?: FlowKind[] }) {
  const { engine } = options;
  const flowKinds = options.flowKinds ?? ['login', 'registration', 'settings'];
  const brand = engine.deps.config.ui.brand;
  const html = (reply: FastifyReply, body: string, status = 200) =>
    reply.code(status).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(body);

  app.get(SCRIPT_PATH, (_request, reply) =>
    reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', 'public, max-age=300').send(HOSTED_UI_SCRIPT),
  );
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
      const pageOptions: FlowPageOptions = { flowKinds };
      if (kind === 'settings') {
        const current = await engine.currentSession(request);
        if (!current || current.identity.id !== flow.identityId) return reply.redirect(engine.deps.urls.browserInit('login'), 303);
        pageOptions.factors = factorSummaries(engine, current.identity);
      }
      return html(reply, renderFlowPage(kind, await engine.flowJson(flow, request, reply), brand, pageOptions));
    });
  }
  app.get('/ui/error', async (request, reply) => {
    const id = (request.query as Record<string, string | undefined>).id;
    const row = id && /^[0-9a-f-]{36}$/i.test(id) ? await engine.deps.db.selectFrom('selfservice_errors').selectAll().where('id', '=', id).executeTakeFirst() : undefined;
    return html(reply, renderErrorPage(row ? JSON.parse(row.error) : null, brand), row ? 200 : 404);
  });
  app.get('/ui/welcome', async (request, reply) => {
    const current = await engine.currentSession(request);
    if (!current)
      return html(
        reply,
        page('Welcome', brand, `<h1>Welcome</h1><div class="card"><p>You are not signed in.</p><nav class="links"><a class="button" href="/ui/login">Sign in</a><a href="/ui/registration">Create an account</a></nav></div>`),
      );
    // What whoami refuses (e.g. a second factor must be enrolled again after an MFA reset), this page does too.
    for (const gate of engine.sessionGates) {
      const refused = await gate(current);
      const redirect = refused?.extra.redirect_browser_to;
      if (typeof redirect === 'string') return reply.redirect(redirect, 303);
    }
    const aal = deriveAal(current.session.amr);
    const methods = [...new Set(current.session.amr.map((e) => FACTOR_LABELS[e.method] ?? e.method))].map(escapeHtml).join(', ');
    const email = escapeHtml((current.identity.traits as Record<string, unknown>).email ?? current.identity.id);
    const needsSecondFactor = !engine.satisfiesAal(current, 'highest_available');
    const protect =
      engine.deps.secondFactorTypes.length > 0 && !engine.deps.identities.hasSecondFactor(current.identity)
        ? renderMessage(hostedUiMsg.enableSecondFactor())
        : '';
    const lastStepAtMs = current.session.amr.length ? Math.max(...current.session.amr.map((e) => e.completedAtMs)) : null;
    const stepMessages = (await lastStepMessages(engine, current.session.id, lastStepAtMs)).map((m) => renderMessage(m)).join('');
    // Few recovery codes left: a standing warning with a link to regenerate (issue 4), not only after the step.
    const remaining = ((await engine.sessionExtras(current.identity.id)).kairos as Record<string, unknown> | undefined)?.recovery_codes_remaining;
    const codesWarning =
      typeof remaining === 'number' && remaining <= LOW_REMAINING_CODES && !stepMessages
        ? renderMessage(remaining === 0 ? lookupMsg.codesExhausted('/ui/settings') : lookupMsg.codesLow(remaining, '/ui/settings'))
        : '';
    const stepUp = needsSecondFactor
      ? `<p><a class="button" href="/ui/login?aal=aal2">Complete the second step</a></p>`
      : '';
    return html(
      reply,
      page(
        'Welcome',
        brand,
        `<h1>Welcome</h1>${stepMessages}${codesWarning}${protect}<div class="card" data-testid="ui/session"><p>Signed in as <strong>${email}</strong>.</p><p>Assurance level: <strong data-testid="ui/session/aal">${aal}</strong> (${aal === 'aal2' ? 'two steps' : 'one step'}: ${methods}).</p>${stepUp}<nav class="links"><a href="/ui/settings">Account settings</a><a href="/ui/logout">Sign out</a></nav></div>`,
      ),
    );
  });
  // `?then=recovery`: sign out first, then recover (recovery starts only without a session, as in Kratos). Only
  // hosted pages are accepted as a destination, so this is no open redirect.
  app.get('/ui/logout', async (request, reply) => {
    const then = (request.query as Record<string, string | undefined>).then;
    const next = then === 'recovery' && flowKinds.includes('recovery') ? engine.deps.urls.public('/ui/recovery') : undefined;
    const current = await engine.currentSession(request);
    if (!current) return reply.redirect(next ?? '/ui/login', 303);
    const token = await engine.deps.sessions.issueLogoutToken(current.session.id);
    return reply.redirect(engine.deps.urls.public('/self-service/logout', { token, return_to: next }), 303);
  });
}
