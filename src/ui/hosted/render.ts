/**
 * The generic renderer: turns any flow's UI nodes and messages into HTML. It knows node types and, for presentation
 * only, a few node names and groups (the TOTP secret is shown in groups of four, a text node with `context.secrets`
 * is a grid of codes); it never decides anything a strategy decides.
 */
import type { UiNode } from '../nodes.js';
import type { UiText } from '../messages.js';
import { KAIROS_ERROR_RANGE, KAIROS_INFO_RANGE } from '../messages.js';
import { escapeHtml } from './layout.js';
import { translator, type Translator } from '../i18n/catalogue.js';

/** Kratos's label id of "Resend code" (`text.InfoNodeLabelResendCode`). */
const RESEND_CODE_LABEL_ID = 1070008;

/** Kratos's id for a used lookup secret in a `context.secrets` list (`text.InfoSelfServiceSettingsLookupSecretUsed`). */
const USED_SECRET_MESSAGE_ID = 1050014;

export function isKairosMessage(m: UiText): boolean {
  return (m.id >= KAIROS_INFO_RANGE[0] && m.id <= KAIROS_INFO_RANGE[1]) || (m.id >= KAIROS_ERROR_RANGE[0] && m.id <= KAIROS_ERROR_RANGE[1]);
}

/** Context fields that are a place to go next, and the catalogue key of the link text for them. */
const CONTEXT_LINKS = {
  settings_url: 'link.openSettings',
  recovery_url: 'link.recover',
  login_url: 'link.signIn',
} as const;

/** Only http(s) and same-site paths become links (a message's context never turns into `javascript:`). */
function safeHref(url: string): string {
  return /^(https?:\/\/|\/(?!\/))/i.test(url) ? url : '#';
}

function listOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v) => typeof v === 'string' || typeof v === 'number').map(String) : [];
}

/**
 * One message. Kairos's own messages (diagnosis hints, warnings) are friendly callouts with a title; `context.title`
 * overrides it and `context.steps` (a list of strings) becomes a numbered list of what to do.
 */
export function renderMessage(m: UiText, options: { id?: string; t?: Translator } = {}): string {
  const t = options.t ?? translator('en');
  const type = m.type === 'error' || m.type === 'success' ? m.type : 'info';
  const role = type === 'error' ? 'alert' : 'status';
  const idAttr = options.id ? ` id="${escapeHtml(options.id)}"` : '';
  const steps = listOf(m.context?.steps);
  const link = (Object.entries(CONTEXT_LINKS) as [keyof typeof CONTEXT_LINKS, (typeof CONTEXT_LINKS)[keyof typeof CONTEXT_LINKS]][]).find(([key]) => typeof m.context?.[key] === 'string');
  const stepsHtml =
    (steps.length ? `<ol>${steps.map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ol>` : '') +
    (link ? ` <a href="${escapeHtml(safeHref(String(m.context![link[0]])))}">${escapeHtml(t.t(link[1]))}</a>` : '');
  const text = t.message(m);
  if (isKairosMessage(m)) {
    // A message's own title (context.title) is English: the catalogue's title for that id, else the type's.
    const title = m.id === 1900500 ? t.t('callout.1900500') : t.t(`callout.${type}`);
    return `<div class="msg callout ${type}" role="${role}"${idAttr} data-testid="ui/message/${m.id}" data-message-type="${type}"><span class="title">${escapeHtml(title)}</span>${escapeHtml(text)}${stepsHtml}</div>`;
  }
  return `<div class="msg ${type}" role="${role}"${idAttr} data-testid="ui/message/${m.id}" data-message-type="${type}">${escapeHtml(text)}${stepsHtml}</div>`;
}

/** `ABCDEFGHIJKL` → `ABCD EFGH IJKL`: easier to read aloud and to type from another screen. */
export function groupsOfFour(secret: string): string {
  return secret.replace(/\s+/g, '').replace(/(.{4})(?=.)/g, '$1 ');
}

function buttonClass(name: string): string {
  if (/unlink|disable|remove|delete/.test(name)) return 'danger';
  if (/regenerate|reveal|resend/.test(name)) return 'secondary';
  return 'primary';
}

export interface RenderContext {
  /** Element ids must be unique on a page that shows several forms. */
  idPrefix: string;
  brandName: string;
  t?: Translator;
  /** How a node's label reads when the page knows better than the generic text (e.g. "Email" for the identifier). */
  relabel?: (node: UiNode) => string | undefined;
}

function codesFile(t: Translator, brandName: string, codes: string[]): string {
  return [t.t('codes.file.title', { brand: brandName }), t.t('codes.file.note'), '', ...codes.map((c, i) => `${i + 1}. ${c}`), ''].join('\n');
}

/** A node's label in the reader's language. */
function labelOf(node: UiNode, context: RenderContext): string | undefined {
  const custom = context.relabel?.(node);
  if (custom !== undefined) return custom;
  const label = node.meta.label;
  return label ? (context.t ?? translator('en')).message(label) : undefined;
}

/** Kratos's id of one lookup secret in a `context.secrets` list (`text.InfoSelfServiceSettingsLookupSecret`). */
export const SECRET_MESSAGE_ID = 1050009;

function renderCodes(node: UiNode, secrets: UiText[], context: RenderContext, offerActions: boolean): string {
  const a = node.attributes as Extract<UiNode['attributes'], { node_type: 'text' }>;
  const t = context.t ?? translator('en');
  // Each entry is a code (1050009), a used code (1050014), or a status line a strategy sends instead of a code.
  const items = secrets.map((s) =>
    s.id === SECRET_MESSAGE_ID
      ? `<li><code>${escapeHtml(s.text)}</code></li>`
      : s.id === USED_SECRET_MESSAGE_ID
        ? `<li class="used"><code>${escapeHtml(t.t('codes.used'))}</code><span class="tag">${escapeHtml(t.message(s))}</span></li>`
        : `<li class="status"><span>${escapeHtml(t.message(s))}</span></li>`,
  );
  const codes = secrets.filter((s) => s.id === SECRET_MESSAGE_ID).map((s) => s.text);
  const label = labelOf(node, context);
  const download = offerActions && codes.length
    ? `<a class="button secondary" data-testid="ui/codes/download" download="${escapeHtml(context.brandName.toLowerCase().replace(/[^a-z0-9]+/g, '-'))}-backup-codes.txt" href="data:text/plain;charset=utf-8,${encodeURIComponent(codesFile(t, context.brandName, codes))}">${escapeHtml(t.t('codes.download'))}</a>`
    : '';
  const print = offerActions && codes.length ? `<button type="button" class="secondary" data-print data-js-only data-testid="ui/codes/print">${escapeHtml(t.t('codes.print'))}</button>` : '';
  return `${label ? `<p class="help" data-testid="node/text/${escapeHtml(a.id)}/label">${escapeHtml(label)}</p>` : ''}<ul class="codes" data-testid="node/text/${escapeHtml(a.id)}/text">${items.join('')}</ul>${download || print ? `<div class="actions no-print">${download}${print}</div>` : ''}`;
}

/**
 * One node. `options.withDownload`: offer a .txt download and a print button for a codes list (when the strategy
 * sends no links of its own for that).
 */
export function renderNode(node: UiNode, index: number, context: RenderContext = { idPrefix: 'n', brandName: 'Kairos' }, options: { withDownload?: boolean } = {}): string {
  const a = node.attributes;
  const t = context.t ?? translator('en');
  const label = labelOf(node, context);
  if (a.node_type === 'input') {
    if (a.type === 'hidden') return `<input type="hidden" name="${escapeHtml(a.name)}" value="${escapeHtml(a.value)}">`;
    const id = `${context.idPrefix}${index}-${a.name.replace(/[^a-z0-9_-]/gi, '-')}`;
    const messages = node.messages.map((m, i) => renderMessage(m, { id: `${id}-msg${i}`, t })).join('');
    const describedBy = node.messages.length ? ` aria-describedby="${node.messages.map((_, i) => `${id}-msg${i}`).join(' ')}"` : '';
    if (a.type === 'button' && a.onclickTrigger) {
      // A WebAuthn trigger (Kratos's `onclickTrigger`): the hosted UI sends no inline JavaScript; webauthn.js (the
      // group's script node) binds `data-webauthn-trigger` and reads the options from the button's value.
      return `<button type="button" class="primary" data-js-only name="${escapeHtml(a.name)}" value="${escapeHtml(a.value)}" data-webauthn-trigger="${escapeHtml(a.onclickTrigger)}"${a.disabled ? ' disabled' : ''} data-testid="node/input/${escapeHtml(a.name)}">${escapeHtml(label ?? a.name)}</button><noscript><p class="msg info">Security keys and passkeys need JavaScript in this browser.</p></noscript>${messages}`;
    }
    if (a.type === 'submit' || a.type === 'button') {
      // "Send a new code" (Kratos 1070008) must work with the code field still empty: the browser skips validation.
      // A passwordless security key's first step needs only the identifier, not the password beside it.
      const noValidate = node.meta.label?.id === RESEND_CODE_LABEL_ID || node.group === 'webauthn' ? ' formnovalidate' : '';
      return `<button type="submit" class="${buttonClass(a.name)}${node.meta.label?.id === RESEND_CODE_LABEL_ID ? ' secondary' : ''}" name="${escapeHtml(a.name)}" value="${escapeHtml(a.value)}"${a.disabled ? ' disabled' : ''}${noValidate} data-testid="node/input/${escapeHtml(a.name)}">${escapeHtml(label ?? a.value)}</button>${messages}`;
    }
    const common = [
      `id="${id}"`,
      `name="${escapeHtml(a.name)}"`,
      a.required ? 'required' : '',
      a.disabled ? 'disabled' : '',
      `data-testid="node/input/${escapeHtml(a.name)}"`,
    ];
    if (a.type === 'checkbox') {
      // Kratos's checkbox value is the field's state when boolean (traits), else the value to send when ticked: a
      // string never pre-ticks the box (an acknowledgement must be a person's own click).
      const checked = a.value === true ? ' checked' : '';
      const sendValue = typeof a.value === 'string' && a.value !== '' ? a.value : 'true';
      return `<label class="check" for="${id}"><input type="checkbox" value="${escapeHtml(sendValue)}"${checked} ${common.filter(Boolean).join(' ')}${describedBy}><span>${escapeHtml(label ?? a.name)}</span></label>${messages}`;
    }
    const isCode = a.autocomplete === 'one-time-code' || a.inputmode === 'numeric';
    const attrs = [
      ...common,
      `type="${escapeHtml(a.type)}"`,
      a.value !== undefined && a.value !== null && a.type !== 'password' ? `value="${escapeHtml(a.value)}"` : '',
      a.autocomplete ? `autocomplete="${escapeHtml(a.autocomplete)}"` : '',
      a.inputmode ? `inputmode="${escapeHtml(a.inputmode)}"` : '',
      a.pattern ? `pattern="${escapeHtml(a.pattern)}"` : '',
      a.maxlength ? `maxlength="${a.maxlength}"` : '',
      isCode ? 'class="code" spellcheck="false"' : '',
    ].filter(Boolean).join(' ');
    return `<label for="${id}">${escapeHtml(label ?? a.name)}</label><input ${attrs}${describedBy}><div class="field-msg">${messages}</div>`;
  }
  const messages = node.messages.map((m) => renderMessage(m, { t })).join('');
  if (a.node_type === 'img') {
    return `<figure class="qr" data-testid="node/img/${escapeHtml(a.id)}"><img src="${escapeHtml(a.src)}" width="${a.width}" height="${a.height}" alt="${escapeHtml(label ?? t.t('qr.alt'))}"><figcaption>${escapeHtml(label ?? '')}</figcaption></figure>${messages}`;
  }
  if (a.node_type === 'text') {
    const secrets = a.text.context?.secrets;
    if (Array.isArray(secrets)) return renderCodes(node, secrets as UiText[], context, options.withDownload ?? true) + messages;
    const labelHtml = label ? `<p class="help" data-testid="node/text/${escapeHtml(a.id)}/label">${escapeHtml(label)}</p>` : '';
    if (typeof a.text.context?.secret === 'string' || /secret_key$/.test(a.id)) {
      // A secret to copy into another device: grouped for reading, copied without the spaces.
      const raw = typeof a.text.context?.secret === 'string' ? a.text.context.secret : a.text.text;
      const id = `${context.idPrefix}${index}-${a.id}`;
      return `${labelHtml}<div class="secret-box"><code class="secret" id="${id}" data-copy="${escapeHtml(raw)}" data-testid="node/text/${escapeHtml(a.id)}/text">${escapeHtml(groupsOfFour(raw))}</code><button type="button" class="secondary small" data-js-only data-copy-target="${id}" data-copied="${escapeHtml(t.t('secret.copied'))}" aria-label="${escapeHtml(t.t('secret.copy.label'))}">${escapeHtml(t.t('secret.copy'))}</button></div>${messages}`;
    }
    // Kairos's own texts (a status, a warning) stand out as a note; others are plain text.
    const cls = isKairosMessage(a.text) ? ` class="msg ${a.text.type === 'error' ? 'error' : 'info'}"` : '';
    return `${labelHtml}<p${cls} data-testid="node/text/${escapeHtml(a.id)}/text">${escapeHtml(t.message(a.text))}</p>${messages}`;
  }
  if (a.node_type === 'script') {
    return `<script src="${escapeHtml(safeHref(a.src))}" integrity="${escapeHtml(a.integrity)}" crossorigin="${escapeHtml(a.crossorigin)}" referrerpolicy="${escapeHtml(a.referrerpolicy)}" async data-testid="node/script/${escapeHtml(a.id)}"></script>`;
  }
  if (a.node_type === 'a') {
    return `<a class="button secondary" href="${escapeHtml(safeHref(a.href))}" data-testid="node/a/${escapeHtml(a.id)}">${escapeHtml(t.message(a.title))}</a>${messages}`;
  }
  return '';
}
