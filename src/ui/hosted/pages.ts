/**
 * The hosted UI: server-rendered pages that render ANY flow's nodes with one generic renderer (render.ts), so new
 * methods appear without page code. Works without JavaScript (the script only adds copy and print buttons); every
 * visible input has a label; the brand name, colour and logo come from `ui.brand`; every word comes from the
 * message catalogue (../i18n) in the reader's language (`Accept-Language`, `ui.languages`, the switcher's cookie).
 *
 * What the pages add around the nodes is presentation only: a heading and help text per flow and group, the settings
 * sections (factors with their dates, addresses with their verified state, devices), links between second factors,
 * and the prompt to verify an unverified address.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FlowEngine } from '../../flows/engine.js';
import type { FlowKind } from '../../flows/flow.js';
import type { Identity } from '../../identity/identity.js';
import type { UiNode } from '../nodes.js';
import { hostedUiMsg, type UiText } from '../messages.js';
import { deriveAal } from '../../session/session.js';
import { LOW_REMAINING_CODES, lookupMsg } from '../../credentials/lookup-secret/messages.js';
import { withoutTotpOffer } from '../../credentials/totp/strategy.js';
import { escapeHtml, favicon, FAVICON_PATH, HOSTED_UI_SCRIPT, page, SCRIPT_PATH, type Brand, type Shell, defaultShell } from './layout.js';
import { isKairosMessage, renderMessage, renderNode, SECRET_MESSAGE_ID, type RenderContext } from './render.js';
import { addressesCard, devicesCard, factorName, factorsCard, factorWhen, type FactorSummary, type SettingsExtras } from './settings.js';
import { LANGUAGE_COOKIE, pickLanguage, translator, type Language, type Translator } from '../i18n/catalogue.js';
import type { MessageKey } from '../i18n/en.js';
import { docsOnly, revokeSessionFormSchema, type RevokeSessionForm } from '../../http/bodies.js';

export { escapeHtml } from './layout.js';
export { renderNode } from './render.js';
export type { FactorSummary } from './settings.js';

const TITLES: Record<FlowKind, MessageKey> = {
  login: 'title.login',
  registration: 'title.registration',
  settings: 'title.settings',
  recovery: 'title.recovery',
  verification: 'title.verification',
};

const LEADS: Record<FlowKind, MessageKey> = {
  login: 'lead.login',
  registration: 'lead.registration',
  settings: 'lead.settings',
  recovery: 'lead.recovery',
  verification: 'lead.verification',
};

/** Kratos's "verification code sent" (`text.InfoSelfServiceVerificationEmailWithCodeSent`). */
const VERIFICATION_SENT_MESSAGE_ID = 1080003;

const isInput = (n: UiNode, name: string) => n.attributes.node_type === 'input' && n.attributes.name === name;

/** The address a verification flow sent its code to (the value of its "send a new code" button). */
function sentTo(nodes: UiNode[]): string | null {
  const resend = nodes.find((n) => isInput(n, 'email') && n.attributes.node_type === 'input' && n.attributes.type === 'submit');
  return resend && resend.attributes.node_type === 'input' && typeof resend.attributes.value === 'string' ? resend.attributes.value : null;
}

/** Recovery and verification go through steps: the lead follows what the form asks for now. */
function leadFor(t: Translator, kind: FlowKind, flow: Record<string, any>, nodes: UiNode[]): string {
  if ((kind === 'recovery' || kind === 'verification') && flow.state !== 'choose_method') {
    const asksForCode = nodes.some((n) => isInput(n, 'code') && n.attributes.node_type === 'input' && n.attributes.type !== 'hidden');
    if (!asksForCode) return '';
    const address = kind === 'verification' ? sentTo(nodes) : null;
    return address ? t.t('lead.verificationSent', { address }) : t.t('lead.codeSent');
  }
  return t.t(LEADS[kind]);
}

/** What each group is called, and the help shown above its form, by what the group's nodes offer. */
function groupPresentation(t: Translator, kind: FlowKind, group: string, nodes: UiNode[], issuer: string): { title: string; help: string } {
  const has = (name: string) => nodes.some((n) => (n.attributes.node_type === 'input' ? n.attributes.name : n.attributes.id) === name);
  const hasCodesList = nodes.some((n) => n.attributes.node_type === 'text' && Array.isArray(n.attributes.text.context?.secrets));
  const text = (key: MessageKey) => escapeHtml(t.t(key));
  switch (group) {
    case 'totp':
      if (kind === 'login') return { title: t.t('group.totp.login'), help: text('group.totp.login.help') };
      if (nodes.some((n) => n.attributes.node_type === 'img'))
        return {
          title: t.t('group.totp.setup'),
          help: `<ol><li>${text('group.totp.setup.step1')}</li><li>${text('group.totp.setup.step2')}</li><li>${escapeHtml(t.t('group.totp.setup.step3', { issuer }))}</li></ol>`,
        };
      if (has('totp_unlink')) return { title: t.t('group.totp.enrolled'), help: text('group.totp.enrolled.help') };
      return { title: t.t('group.totp.enrolled'), help: '' };
    case 'lookup_secret':
      if (kind === 'login') return { title: t.t('group.lookup_secret.login'), help: text('group.lookup_secret.login.help') };
      if (hasCodesList) return { title: t.t('group.lookup_secret.save'), help: text('group.lookup_secret.save.help') };
      return { title: t.t('group.lookup_secret'), help: text('group.lookup_secret.help') };
    case 'password':
      return { title: t.t(kind === 'settings' ? 'group.password.settings' : 'group.password'), help: '' };
    case 'profile':
      return { title: t.t('group.profile'), help: '' };
    case 'code':
      // The MFA reset step of recovery asks for the password in this group (where Ory's recovery cards look).
      if (has('password')) return { title: t.t('group.password'), help: '' };
      if (kind === 'login') {
        // Second-factor codes go by email, by SMS, or both (the address buttons' `context.channel`).
        const channels = new Set(nodes.map((n) => n.meta.label?.context?.channel).filter((c) => typeof c === 'string'));
        if (channels.has('sms')) return { title: t.t(channels.size > 1 ? 'group.code.any' : 'group.code.sms'), help: '' };
      }
      return { title: t.t('group.code'), help: '' };
    case 'webauthn':
      if (kind === 'login') return { title: t.t('group.webauthn.login'), help: text('group.webauthn.login.help') };
      return { title: t.t('group.webauthn.settings'), help: text('group.webauthn.settings.help') };
    case 'passkey':
      if (kind === 'login') return { title: t.t('group.passkey.login'), help: text('group.passkey.login.help') };
      if (kind === 'registration') return { title: t.t('group.passkey.registration'), help: text('group.passkey.registration.help') };
      return { title: t.t('group.passkey.settings'), help: text('group.passkey.settings.help') };
    case 'recovery_address':
      return { title: t.t('group.recovery_address'), help: text('group.recovery_address.help') };
    case 'remembered_device':
      return { title: t.t('group.remembered_device'), help: text('group.remembered_device.help') };
    default:
      return { title: group, help: '' };
  }
}

/** Link texts to switch between second factors on the second-factor page. */
const SWITCH_TO: Record<string, MessageKey> = {
  totp: 'switch.totp',
  lookup_secret: 'switch.lookup_secret',
  code: 'switch.code',
  webauthn: 'switch.webauthn',
  passkey: 'switch.passkey',
};

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
  shell?: Shell;
  /** Every password identifier of the schemas is an email address: the identifier field is labelled "Email". */
  identifierIsEmail?: boolean;
  /** The issuer authenticator apps will show (named in the set-up steps). */
  totpIssuer?: string;
  /** Settings: the "Set up an authenticator app" action was chosen (the QR code is shown only then). */
  showTotpSetup?: boolean;
  settings?: SettingsExtras;
  /** Signed in: the reader's addresses that are not verified yet (verification pre-fills the first). */
  unverifiedAddresses?: string[];
  /** Second-factor page: the factor (node group) this person used last, offered first. */
  preferredGroup?: string;
}

function groupForm(kind: FlowKind, group: string, ui: FlowUi, csrf: UiNode[], context: RenderContext, attrs: { className: string; open?: boolean; heading?: 'h2' | 'h3' | null; labelledBy?: string; issuer: string; note?: string }): string {
  const t = context.t!;
  const nodes = ui.nodes.filter((n) => n.group === group);
  const { title, help } = groupPresentation(t, kind, group, nodes, attrs.issuer);
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
  // A card alone in a settings section of the same name has no heading of its own (the section's names it).
  const headingId = attrs.heading === null && attrs.labelledBy ? attrs.labelledBy : `h-${group}`;
  const h = attrs.heading === undefined ? 'h2' : attrs.heading;
  const note = attrs.note ? `<p class="help" data-testid="ui/group/${escapeHtml(group)}/note">${escapeHtml(attrs.note)}</p>` : '';
  return `<section class="card ${attrs.className}${attrs.open ? ' open' : ''}" id="method-${escapeHtml(group)}" aria-labelledby="${headingId}" data-testid="ui/group/${escapeHtml(group)}">${h ? `<${h} id="${headingId}">${escapeHtml(title)}</${h}>` : ''}${note}${help ? `<div class="help">${help}</div>` : ''}<form method="POST" action="${escapeHtml(ui.action)}">${csrf.map((n, i) => renderNode(n, i, context)).join('')}${body}</form></section>`;
}

/** The settings page's TOTP group before "Set up" was chosen: what it is, and the action (same flow, same secret). */
function totpOffer(t: Translator, flowId: string): string {
  const href = `/ui/settings?${new URLSearchParams({ flow: flowId, setup: 'totp' }).toString()}#method-totp`;
  return `<section class="card" id="method-totp" aria-labelledby="h-totp" data-testid="ui/group/totp"><h3 id="h-totp">${escapeHtml(t.t('factor.totp'))}</h3><p class="help">${escapeHtml(t.t('group.totp.offer'))}</p><a class="button" href="${escapeHtml(href)}" data-testid="ui/totp/setup">${escapeHtml(t.t('group.totp.offer.button'))}</a></section>`;
}

/** Presentation-only changes to nodes: pre-fill the reader's own unverified address in the verification form. */
function prefill(kind: FlowKind, flow: Record<string, any>, nodes: UiNode[], options: FlowPageOptions): UiNode[] {
  const address = options.unverifiedAddresses?.[0];
  if (kind !== 'verification' || flow.state !== 'choose_method' || !address) return nodes;
  return nodes.map((n) =>
    n.attributes.node_type === 'input' && n.attributes.name === 'email' && (n.attributes.type === 'email' || n.attributes.type === 'text') && !n.attributes.value
      ? { ...n, attributes: { ...n.attributes, value: address } }
      : n,
  );
}

export function renderFlowPage(kind: FlowKind, flow: Record<string, any>, brand: Brand, options: FlowPageOptions = {}): string {
  const shell = options.shell ?? defaultShell();
  const t = shell.t;
  const ui = { ...(flow.ui as FlowUi) };
  ui.nodes = prefill(kind, flow, ui.nodes, options);
  const kinds = options.flowKinds ?? ['login', 'registration', 'settings'];
  const relabel = (node: UiNode): string | undefined => {
    const label = node.meta.label;
    if (!label || node.attributes.node_type !== 'input') return undefined;
    if (label.id === 1070004 && node.attributes.name === 'identifier' && options.identifierIsEmail) return t.t('label.email');
    if (label.id === 1070002 && node.attributes.type === 'email') return t.t('label.email');
    // Asking for an address, the button sends a code ("Continue" says nothing about what happens).
    if (label.id === 1070005 && (kind === 'recovery' || kind === 'verification') && flow.state === 'choose_method') return t.t('action.sendCode');
    return undefined;
  };
  const context: RenderContext = { idPrefix: 'n', brandName: brand.name, t, relabel };
  const issuer = options.totpIssuer ?? brand.name;
  const csrf = ui.nodes.filter((n) => n.group === 'default' && n.attributes.node_type === 'input' && n.attributes.type === 'hidden');
  const secondFactor = kind === 'login' && flow.requested_aal === 'aal2';
  let groups: string[] = [...new Set(ui.nodes.filter((n) => n.group !== 'default').map((n) => n.group))];
  // The second-factor page offers the factor this person used last first (issue 15); the others follow in order.
  const preferred = secondFactor && options.preferredGroup && groups.includes(options.preferredGroup) ? options.preferredGroup : null;
  if (preferred) groups = [preferred, ...groups.filter((g) => g !== preferred)];
  const refresh = kind === 'login' && flow.refresh === true && !secondFactor;
  const title = t.t(secondFactor ? 'title.secondFactor' : refresh ? 'title.refresh' : TITLES[kind]);
  const lead = secondFactor ? t.t('lead.secondFactor') : refresh ? t.t('lead.refresh') : leadFor(t, kind, flow, ui.nodes);
  const messages = ui.messages ?? [];
  // "We sent a verification code" (1080003) says what the lead already says, with the address.
  const sentLead = kind === 'verification' && sentTo(ui.nodes) !== null;
  const top = messages.filter((m) => !(sentLead && m.id === VERIFICATION_SENT_MESSAGE_ID)).map((m) => renderMessage(m, { t })).join('');
  let forms: string;
  const links: string[] = [];
  if (kind === 'settings') {
    forms = settingsBody(ui, groups, csrf, context, options, flow, issuer);
    links.push(`<a href="/ui/welcome">${escapeHtml(t.t('link.backToAccount'))}</a>`);
  } else if (secondFactor) {
    // One form per second factor. The first is shown; the others behind a link that works without JavaScript
    // (CSS :target). After a failed attempt every option is shown (a rejected code always has a way forward), and
    // no link repeats what is already on the page.
    const failed = messages.some((m) => m.type === 'error') || ui.nodes.some((n) => n.messages.some((m) => m.type === 'error'));
    const open = (g: string, i: number) => i > 0 && (failed || ui.nodes.some((n) => n.group === g && n.messages.length > 0));
    forms = groups.map((g, i) => groupForm(kind, g, ui, csrf, context, { className: i === 0 ? 'primary' : 'alt', open: open(g, i), issuer, ...(g === preferred ? { note: t.t('secondFactor.lastUsed') } : {}) })).join('');
    if (groups.length === 0) forms = `<div class="card"><p>${escapeHtml(t.t('secondFactor.none'))}</p></div>`;
    const codeChannels = new Set(ui.nodes.filter((n) => n.group === 'code').map((n) => n.meta.label?.context?.channel).filter((c) => typeof c === 'string'));
    const switchText = (g: string) => {
      if (g === 'code' && codeChannels.has('sms')) return t.t(codeChannels.size > 1 ? 'group.code.any' : 'switch.sms');
      return SWITCH_TO[g] ? t.t(SWITCH_TO[g]!) : g;
    };
    const switchLink = (g: string, cls = '') => `<a href="#method-${escapeHtml(g)}"${cls ? ` class="${cls}"` : ''} data-testid="ui/switch/${escapeHtml(g)}">${escapeHtml(switchText(g))}</a>`;
    const hidden = groups.slice(1).filter((g, i) => !open(g, i + 1));
    if (hidden.length > 0) forms += `<div class="alt-links">${hidden.map((g) => switchLink(g)).join('')}${switchLink(groups[0]!, 'to-primary')}</div>`;
    if (kinds.includes('recovery')) links.push(`<a href="/ui/logout?then=recovery" data-testid="ui/link/lost-second-factor">${escapeHtml(t.t('link.lostSecondFactor'))}</a>`);
    links.push(`<a href="/ui/logout">${escapeHtml(t.t('link.signOut'))}</a>`);
  } else {
    // A passkey (and a passwordless security key) is an alternative to the password: its button comes after the form.
    const alternative = (n: UiNode) => n.group === 'passkey' || n.group === 'webauthn';
    const ordered = [...ui.nodes.filter((n) => !alternative(n)), ...ui.nodes.filter(alternative)];
    forms = `<div class="card"><form method="POST" action="${escapeHtml(ui.action)}">${ordered.map((n, i) => renderNode(n, i, context)).join('')}</form></div>`;
    if (kind === 'login') {
      if (kinds.includes('registration') && !refresh) links.push(`<a href="/ui/registration">${escapeHtml(t.t('link.createAccount'))}</a>`);
      if (kinds.includes('recovery') && !refresh) links.push(`<a href="/ui/recovery">${escapeHtml(t.t('link.forgotPassword'))}</a>`);
    } else if (kind === 'registration') links.push(`<a href="/ui/login">${escapeHtml(t.t('link.haveAccount'))}</a>`);
    else if (kind === 'verification' && options.unverifiedAddresses !== undefined) {
      if (flow.state === 'sent_email')
        links.push(`<a href="${escapeHtml(typeof flow.return_to === 'string' && flow.return_to ? flow.return_to : '/ui/welcome')}" data-testid="ui/link/verify-later">${escapeHtml(t.t('link.verifyLater'))}</a>`);
      else links.push(`<a href="/ui/welcome">${escapeHtml(t.t('link.backToAccount'))}</a>`);
    } else links.push(`<a href="/ui/login">${escapeHtml(t.t('link.backToSignIn'))}</a>`);
  }
  const nav = links.length ? `<nav class="links" aria-label="${escapeHtml(t.t('shell.home'))}">${links.join('')}</nav>` : '';
  return page(title, brand, `<h1>${escapeHtml(title)}</h1>${lead ? `<p class="lead">${escapeHtml(lead)}</p>` : ''}${top}${forms}${nav}`, shell);
}

/** The settings page: new codes to save first, then sections with a navigation bar. */
function settingsBody(ui: FlowUi, groups: string[], csrf: UiNode[], context: RenderContext, options: FlowPageOptions, flow: Record<string, any>, issuer: string): string {
  const t = context.t!;
  const showsNewCodes = (g: string) =>
    ui.nodes.some((n) => n.group === g && n.attributes.node_type === 'text' && Array.isArray(n.attributes.text.context?.secrets) && (n.attributes.text.context.secrets as UiText[]).some((x) => x.id === SECRET_MESSAGE_ID));
  const form = (g: string) => {
    const nodes = ui.nodes.filter((n) => n.group === g);
    // The QR code appears only once the reader chose to set up an app (or a code for it was just sent back).
    const offersSetup = g === 'totp' && nodes.some((n) => n.attributes.node_type === 'img');
    const hasFeedback = nodes.some((n) => n.messages.length > 0);
    if (offersSetup && !options.showTotpSetup && !hasFeedback && typeof flow.id === 'string') return totpOffer(t, flow.id);
    if (g === 'profile') return groupForm('settings', g, ui, csrf, context, { className: '', heading: null, labelledBy: 'profile', issuer });
    return groupForm('settings', g, ui, csrf, context, { className: '', heading: 'h3', issuer });
  };
  const urgent = groups.filter(showsNewCodes);
  const rest = groups.filter((g) => !urgent.includes(g));
  // The app first, then other factors, then the backup codes that stand in for them.
  const rank = (g: string) => ['totp', 'webauthn', 'passkey'].indexOf(g) + 1 || (g === 'lookup_secret' ? 10 : 5);
  const secondFactorGroups = rest.filter((g) => !['profile', 'password', 'recovery_address', 'code'].includes(g)).sort((a, b) => rank(a) - rank(b));
  const sections: { id: string; key: MessageKey; html: string }[] = [];
  const add = (id: string, key: MessageKey, html: string) => {
    if (html) sections.push({ id, key, html });
  };
  add('profile', 'settings.section.profile', rest.includes('profile') ? form('profile') : '');
  add('password', 'settings.section.password', rest.includes('password') ? form('password') : '');
  const twoFactor = factorsCard(t, (options.factors ?? []).filter((f) => f.type !== 'password')) + secondFactorGroups.map(form).join('');
  add('two-factor', 'settings.section.twoFactor', twoFactor ? `<p class="help">${escapeHtml(t.t('settings.twoFactor.help'))}</p>${twoFactor}` : '');
  add('email', 'settings.section.email', addressesCard(t, options.settings?.addresses ?? []) + rest.filter((g) => g === 'recovery_address' || g === 'code').map(form).join(''));
  add('sessions', 'settings.section.sessions', options.settings ? devicesCard(t, options.settings) : '');
  const passwordFactor = (options.factors ?? []).find((f) => f.type === 'password');
  const nav = `<nav class="sections" aria-label="${escapeHtml(t.t('settings.nav'))}"><ul>${sections.map((s) => `<li><a href="#${s.id}">${escapeHtml(t.t(s.key))}</a></li>`).join('')}</ul></nav>`;
  const body = sections
    .map((s) => {
      const since = s.id === 'password' && passwordFactor?.enrolled ? `<p class="help" data-testid="ui/factor/password" data-enrolled="true">${escapeHtml(factorWhen(t, passwordFactor))}</p>` : '';
      return `<h2 class="section" id="${s.id}">${escapeHtml(t.t(s.key))}</h2>${since}${s.html}`;
    })
    .join('');
  return urgent.map((g) => groupForm('settings', g, ui, csrf, context, { className: '', issuer })).join('') + nav + body;
}

export function renderErrorPage(error: Record<string, any> | null, brand: Brand, shell: Shell = defaultShell()): string {
  const t = shell.t;
  const known = error && typeof error.id === 'string' && t.knowsKey(`error.${error.id}.title`) ? (error.id as string) : undefined;
  const k = (suffix: string) => `error.${known}.${suffix}` as MessageKey;
  const title = known ? t.t(k('title')) : t.t(error ? 'error.unknown.title' : 'error.missing.title');
  const explain = known ? t.t(k('explain')) : error ? String(error.reason ?? error.message ?? '') : t.t('error.missing.explain');
  const next = known ? t.t(k('next')) : t.t('error.unknown.next');
  const dd = (key: MessageKey, value: string) => `<dt>${escapeHtml(t.t(key))}</dt><dd>${escapeHtml(value)}</dd>`;
  const details = error
    ? `<details><summary>${escapeHtml(t.t('error.details'))}</summary><dl class="details">${error.id ? dd('error.details.error', error.id) : ''}${error.code ? dd('error.details.status', `${error.code} ${error.status ?? ''}`) : ''}${error.message ? dd('error.details.message', error.message) : ''}${error.reason && known ? dd('error.details.reason', error.reason) : ''}</dl></details>`
    : '';
  const body = `<h1>${escapeHtml(title)}</h1><div class="card" data-testid="ui/error"><p>${escapeHtml(explain)}</p><p><strong>${escapeHtml(t.t('error.whatToDo'))}</strong> ${escapeHtml(next)}</p>${details}<nav class="links" aria-label="${escapeHtml(t.t('shell.home'))}"><a class="button" href="/ui/login">${escapeHtml(t.t('error.signInAgain'))}</a><a href="/ui/welcome">${escapeHtml(t.t('shell.home'))}</a></nav></div>`;
  return page(t.t('error.title'), brand, body, shell);
}

/**
 * The shell of a hosted page outside /ui (the printable codes, the MFA-reset cancel page): the reader's language
 * (the switcher's cookie, else `Accept-Language` among `languages`), and no switcher, since its return path is a page
 * under /ui only.
 */
export function readerShell(request: FastifyRequest, languages: readonly Language[]): Shell {
  const language = pickLanguage(languages, { cookie: request.cookies?.[LANGUAGE_COOKIE], acceptLanguage: request.headers['accept-language'] });
  return { t: translator(language), languages: [language], path: '/ui/welcome' };
}

/** The factors the settings page lists: password (when enabled) and every second factor the server offers. */
export function factorSummaries(engine: FlowEngine, identity: Identity, lastUsedMs: Record<string, number> = {}): FactorSummary[] {
  const types = [...(engine.deps.config.selfservice.methods.password.enabled ? ['password'] : []), ...engine.deps.secondFactorTypes];
  return types.map((type) => {
    const credential = identity.credentials[type];
    return { type, label: type, enrolled: Boolean(credential), sinceMs: credential ? credential.createdAtMs : null, lastUsedMs: credential ? (lastUsedMs[type] ?? null) : null };
  });
}

/** How long after a sign-in step the welcome page repeats what that step said (e.g. "9 backup codes remain"). */
const STEP_MESSAGES_SHOWN_FOR_MS = 10 * 60_000;

/**
 * What the login step that last raised this session said about itself (a browser is redirected after it, so the
 * page it lands on shows it): the remaining-codes warning after a backup code, for example. That step succeeded, so
 * only its notices count: an error in the flow's messages belongs to an earlier, rejected attempt (a wrong code
 * before the right one) and is stale on the next page.
 */
async function lastStepMessages(engine: FlowEngine, sessionId: string, lastStepAtMs: number | null): Promise<UiText[]> {
  if (lastStepAtMs === null || engine.deps.clock.nowMs() - lastStepAtMs > STEP_MESSAGES_SHOWN_FOR_MS) return [];
  const ui = await engine.deps.flows.lastPassedLoginUi(sessionId, lastStepAtMs);
  if (!ui) return [];
  return (ui.messages ?? []).filter((m) => isKairosMessage(m) && m.type !== 'error');
}

/** Whether every password identifier in the identity schemas is an email address (the field is then "Email"). */
function identifierIsEmail(engine: FlowEngine): boolean {
  const identifiers = engine.deps.schemas
    .list()
    .flatMap((schema) => schema.annotated.filter((a) => (a.annotations as Record<string, any>)?.credentials?.password?.identifier === true));
  return identifiers.length > 0 && identifiers.every((a) => a.format === 'email');
}

/** A path on the hosted UI to come back to (never another origin: `//host` and `/\host` are refused). */
function safeReturnPath(value: unknown): string {
  return typeof value === 'string' && /^\/ui(\/|\?|$)/.test(value) && !/[\\\r\n]/.test(value) ? value : '/ui/welcome';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function hostedUiRoutes(app: FastifyInstance, options: { engine: FlowEngine; flowKinds?: FlowKind[] }) {
  const { engine } = options;
  const { deps } = engine;
  const flowKinds = options.flowKinds ?? ['login', 'registration', 'settings'];
  const brand = deps.config.ui.brand;
  const languages = deps.config.ui.languages as Language[];
  const emailIdentifier = identifierIsEmail(engine);
  const shellOf = (request: FastifyRequest): Shell => {
    const language = pickLanguage(languages, { cookie: request.cookies?.[LANGUAGE_COOKIE], acceptLanguage: request.headers['accept-language'] });
    return { t: translator(language), languages, path: safeReturnPath(request.url) };
  };
  const html = (reply: FastifyReply, shell: Shell, body: string, status = 200) =>
    reply
      .code(status)
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-language', shell.t.language)
      .header('vary', 'Accept-Language, Cookie')
      .header('cache-control', 'no-store')
      .send(body);
  /** Per-method last use, from the methods the identity's sessions recorded. */
  const lastUsed = async (identityId: string): Promise<Record<string, number>> => {
    const result: Record<string, number> = {};
    for (const session of await deps.sessions.listForIdentity(identityId)) {
      for (const entry of session.amr) result[entry.method] = Math.max(result[entry.method] ?? 0, entry.completedAtMs);
    }
    return result;
  };
  const unverified = (identity: Identity) => identity.verifiableAddresses.filter((a) => a.via === 'email' && !a.verified).map((a) => a.value);

  app.get(SCRIPT_PATH, (_request, reply) =>
    reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', 'public, max-age=300').send(HOSTED_UI_SCRIPT),
  );
  const icon = favicon(brand);
  app.get(FAVICON_PATH, (_request, reply) => reply.header('content-type', 'image/svg+xml').header('cache-control', 'public, max-age=86400').send(icon));
  app.get('/favicon.ico', (_request, reply) => reply.redirect(FAVICON_PATH, 301));
  // The language switcher: remembers the choice for the hosted UI and returns to the page it was chosen on.
  app.get('/ui/language', (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    const language = (languages as string[]).includes(query.lang ?? '') ? query.lang! : null;
    if (language)
      reply.setCookie(LANGUAGE_COOKIE, language, { path: '/', httpOnly: true, sameSite: 'lax', secure: deps.config.serve.public.base_url.startsWith('https:'), maxAge: 60 * 60 * 24 * 365 });
    return reply.redirect(safeReturnPath(query.return_to), 303);
  });
  app.get('/ui', (_request, reply) => reply.redirect('/ui/welcome', 303));
  for (const kind of ['login', 'registration', 'settings', 'recovery', 'verification'] as FlowKind[]) {
    app.get(`/ui/${kind}`, async (request: FastifyRequest, reply) => {
      const query = request.query as Record<string, string | undefined>;
      if (!query.flow) {
        const carry: Record<string, string | undefined> = { return_to: query.return_to, aal: query.aal, refresh: query.refresh };
        return reply.redirect(deps.urls.browserInit(kind, carry), 303);
      }
      const flow = await deps.flows.get(query.flow);
      if (!flow || flow.kind !== kind || engine.isExpired(flow)) return reply.redirect(deps.urls.browserInit(kind), 303);
      const shell = shellOf(request);
      const pageOptions: FlowPageOptions = { flowKinds, shell, identifierIsEmail: emailIdentifier, totpIssuer: deps.config.selfservice.methods.totp.config.issuer ?? brand.name };
      if (kind === 'settings') {
        const current = await engine.currentSession(request);
        if (!current || current.identity.id !== flow.identityId) return reply.redirect(deps.urls.browserInit('login'), 303);
        pageOptions.factors = factorSummaries(engine, current.identity, await lastUsed(current.identity.id));
        pageOptions.showTotpSetup = query.setup === 'totp';
        const now = deps.clock.nowMs();
        const devices = (await deps.sessions.listForIdentity(current.identity.id, { activeOnly: true })).filter((s) => s.expiresAtMs > now);
        const revoked = Number(query.revoked);
        pageOptions.settings = {
          flowId: flow.id,
          csrfToken: engine.csrf.ensure(request, reply),
          addresses: current.identity.verifiableAddresses.filter((a) => a.via === 'email' || a.via === 'sms').map((a) => ({ value: a.value, verified: a.verified, via: a.via })),
          devices: devices.map((s) => ({ id: s.id, current: s.id === current.session.id, userAgent: s.userAgent, ipAddress: s.ipAddress, authenticatedAtMs: s.authenticatedAtMs })),
          ...(Number.isInteger(revoked) && revoked >= 0 && query.revoked !== undefined ? { revoked } : {}),
        };
      }
      if (kind === 'verification') {
        const current = await engine.currentSession(request);
        if (current) pageOptions.unverifiedAddresses = unverified(current.identity);
      }
      if (kind === 'login' && flow.requestedAal === 'aal2') {
        // The factor this identity completed a sign-in with most recently (its sessions' recorded methods), except
        // backup codes, which stand in for a lost factor and should not become the habit.
        const current = await engine.currentSession(request);
        if (current) {
          const used = await lastUsed(current.identity.id);
          const offered = new Set<string>(flow.ui.nodes.map((n) => n.group));
          const candidates = Object.entries(used).filter(([method]) => offered.has(method) && method !== 'lookup_secret' && method !== 'password');
          const [latest] = candidates.sort((a, b) => b[1] - a[1]);
          if (latest) pageOptions.preferredGroup = latest[0];
        }
      }
      // Until "Set up an authenticator app" is chosen (or a code was typed), the page shows that action only: the
      // flow goes out without its TOTP offer, so no secret is computed and no QR code drawn.
      const offerHidden = kind === 'settings' && !pageOptions.showTotpSetup && !flow.ui.nodes.some((n) => n.group === 'totp' && n.messages.length > 0);
      return html(reply, shell, renderFlowPage(kind, await engine.flowJson(offerHidden ? withoutTotpOffer(flow) : flow, request, reply), brand, pageOptions));
    });
  }
  /**
   * Signs out one of the reader's other devices, or all of them (`session_id=others`): a hosted form, so it carries
   * the CSRF token, and only the signed-in identity's own sessions are touched. Audited as `session.revoked`.
   */
  // Documented, checked here: a bad form is answered by the page, never with Fastify's 400 (http/bodies.ts).
  const revokeForm = { schema: { body: revokeSessionFormSchema, consumes: ['application/x-www-form-urlencoded'] }, validatorCompiler: docsOnly };
  app.post<{ Body: RevokeSessionForm | undefined }>('/ui/sessions/revoke', revokeForm, async (request, reply) => {
    const body = request.body ?? {};
    try {
      engine.csrf.verify(request, body.csrf_token);
    } catch (err) {
      return engine.sendError(request, reply, err as never, 'browser');
    }
    const current = await engine.currentSession(request);
    if (!current) return reply.redirect(deps.urls.browserInit('login'), 303);
    const identityId = current.identity.id;
    let count = 0;
    if (body.session_id === 'others') {
      count = await deps.storage.transaction(async (trx) => {
        const revoked = await deps.sessions.revokeAllForIdentity(identityId, current.session.id);
        if (revoked > 0) await deps.audit.record(trx, { type: 'session.revoked', identityId, sessionId: current.session.id, actor: 'self', ipAddress: request.ip, details: { via: 'settings', scope: 'others', count: revoked } });
        return revoked;
      });
    } else if (typeof body.session_id === 'string' && UUID.test(body.session_id) && body.session_id !== current.session.id) {
      const target = await deps.sessions.findById(body.session_id);
      if (target && target.identityId === identityId) {
        count = await deps.storage.transaction(async (trx) => {
          if (!(await deps.sessions.revoke(target.id))) return 0;
          await deps.audit.record(trx, { type: 'session.revoked', identityId, sessionId: target.id, actor: 'self', ipAddress: request.ip, details: { via: 'settings' } });
          return 1;
        });
      }
    }
    const flowId = typeof body.flow === 'string' && UUID.test(body.flow) ? body.flow : null;
    return reply.redirect(flowId ? `/ui/settings?${new URLSearchParams({ flow: flowId, revoked: String(count) }).toString()}#sessions` : '/ui/settings', 303);
  });
  app.get('/ui/error', async (request, reply) => {
    const id = (request.query as Record<string, string | undefined>).id;
    const stored = id ? await deps.flows.getError(id) : null;
    const shell = shellOf(request);
    return html(reply, shell, renderErrorPage(stored ? (stored.error as Record<string, unknown>) : null, brand, shell), stored ? 200 : 404);
  });
  app.get('/ui/welcome', async (request, reply) => {
    const shell = shellOf(request);
    const t = shell.t;
    const current = await engine.currentSession(request);
    if (!current)
      return html(
        reply,
        shell,
        page(
          t.t('welcome.title'),
          brand,
          `<h1>${escapeHtml(t.t('welcome.title'))}</h1><div class="card"><p>${escapeHtml(t.t('welcome.signedOut'))}</p><nav class="links" aria-label="${escapeHtml(t.t('shell.home'))}"><a class="button" href="/ui/login">${escapeHtml(t.t('link.signIn'))}</a>${flowKinds.includes('registration') ? `<a href="/ui/registration">${escapeHtml(t.t('link.createAccount'))}</a>` : ''}</nav></div>`,
          shell,
        ),
      );
    // What whoami refuses (e.g. a second factor must be enrolled again after an MFA reset), this page does too.
    for (const gate of engine.sessionGates) {
      const refused = await gate(current);
      const redirect = refused?.extra.redirect_browser_to;
      if (typeof redirect === 'string') return reply.redirect(redirect, 303);
    }
    const aal = deriveAal(current.session.amr);
    const methods = [...new Set(current.session.amr.map((e) => factorName(t, e.method)))].join(', ');
    const email = String((current.identity.traits as Record<string, unknown>).email ?? current.identity.id);
    const needsSecondFactor = !engine.satisfiesAal(current, 'highest_available');
    const protect =
      deps.secondFactorTypes.length > 0 && !deps.identities.hasSecondFactor(current.identity) ? renderMessage(hostedUiMsg.enableSecondFactor(), { t }) : '';
    const lastStepAtMs = current.session.amr.length ? Math.max(...current.session.amr.map((e) => e.completedAtMs)) : null;
    const stepMessages = (await lastStepMessages(engine, current.session.id, lastStepAtMs)).map((m) => renderMessage(m, { t })).join('');
    // Few recovery codes left: a standing warning with a link to regenerate (issue 4), not only after the step.
    const remaining = ((await engine.sessionExtras(current)).kairos as Record<string, unknown> | undefined)?.recovery_codes_remaining;
    const codesWarning =
      typeof remaining === 'number' && remaining <= LOW_REMAINING_CODES && !stepMessages
        ? renderMessage(remaining === 0 ? lookupMsg.codesExhausted('/ui/settings') : lookupMsg.codesLow(remaining, '/ui/settings'), { t })
        : '';
    // An address that is not verified cannot receive a recovery code: the owner is told, first thing, with the way
    // to verify it (the verification flow pre-fills it).
    const toVerify = flowKinds.includes('verification') ? unverified(current.identity) : [];
    const verify = toVerify.length
      ? `<div class="msg callout error" role="status" data-testid="ui/verify-prompt"><span class="title">${escapeHtml(t.t('verify.title'))}</span>${escapeHtml(t.t('verify.body', { address: toVerify[0]! }))}<p><a class="button" href="/ui/verification" data-testid="ui/verify-prompt/start">${escapeHtml(t.t('verify.button'))}</a></p></div>`
      : '';
    const stepUp = needsSecondFactor ? `<p><a class="button" href="/ui/login?aal=aal2">${escapeHtml(t.t('welcome.completeSecondStep'))}</a></p>` : '';
    return html(
      reply,
      shell,
      page(
        t.t('welcome.title'),
        brand,
        `<h1>${escapeHtml(t.t('welcome.title'))}</h1>${verify}${stepMessages}${codesWarning}${protect}<div class="card" data-testid="ui/session"><p>${escapeHtml(t.t('welcome.signedInAs', { email }))}</p><p data-testid="ui/session/aal" data-aal="${aal}">${escapeHtml(t.t(aal === 'aal2' ? 'welcome.twoStep' : 'welcome.oneStep', { methods }))}</p>${stepUp}<nav class="links" aria-label="${escapeHtml(t.t('shell.home'))}"><a href="/ui/settings">${escapeHtml(t.t('welcome.settings'))}</a><a href="/ui/logout">${escapeHtml(t.t('link.signOut'))}</a></nav></div>`,
        shell,
      ),
    );
  });
  // `?then=recovery`: sign out first, then recover (recovery starts only without a session, as in Kratos). Only
  // hosted pages are accepted as a destination, so this is no open redirect.
  app.get('/ui/logout', async (request, reply) => {
    const then = (request.query as Record<string, string | undefined>).then;
    const next = then === 'recovery' && flowKinds.includes('recovery') ? deps.urls.public('/ui/recovery') : undefined;
    const current = await engine.currentSession(request);
    if (!current) return reply.redirect(next ?? '/ui/login', 303);
    const token = await deps.sessions.issueLogoutToken(current.session.id);
    return reply.redirect(deps.urls.public('/self-service/logout', { token, return_to: next }), 303);
  });
}
