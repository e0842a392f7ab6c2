/**
 * Email templates, one per message type, in plain text and HTML (Kratos `courier/template/`).
 *
 * Overrides: `courier.template_override_path` is a folder laid out as Kratos's: `<kind>/<variant>/` with
 * `email.subject.gotmpl`, `email.body.gotmpl` (HTML) and `email.body.plaintext.gotmpl`, e.g.
 * `verification_code/valid/email.body.gotmpl` for `verification_code_valid`. A missing file falls back to the
 * built-in one. Placeholders are Go-template field references, `{{ .VerificationCode }}`, which is what Kratos
 * templates mostly use; Kairos substitutes fields and nothing else (no logic, no functions), escaping HTML in the HTML
 * body. Fields: `.To` (the recipient) and whatever the message's `data` holds (Kratos's names: `VerificationCode`,
 * `VerificationURL`, `RecoveryCode`, `RecoveryURL`, `ExpiresInMinutes`; Kairos's: `CancelURL`, `EffectiveAt`).
 *
 * Languages: the built-in templates are texts of the hosted UI's message catalogue (`email.<type>.subject|body` in
 * src/ui/i18n), rendered in the language the outbox chose for the recipient (courier/language.ts). Override files
 * have one language and replace the built-in part whatever the language.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CourierTemplateType } from './courier.js';
import { translator, type Language, type Values } from '../ui/i18n/catalogue.js';
import type { MessageKey } from '../ui/i18n/en.js';

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

interface TemplateSource {
  subject: string;
  text: string;
  html: string;
}

/**
 * Which catalogue placeholder each template's data field fills (the data keeps Kratos's field names, which override
 * templates use): `{code}` and `{url}` are shown prominently / as links in the HTML body, `{at}` is a date.
 */
const PLACEHOLDERS: Record<CourierTemplateType, Partial<Record<'code' | 'url' | 'minutes' | 'at', string>>> = {
  verification_code_valid: { code: 'VerificationCode', url: 'VerificationURL', minutes: 'ExpiresInMinutes' },
  verification_code_invalid: {},
  login_code_valid: { code: 'LoginCode', minutes: 'ExpiresInMinutes' },
  recovery_code_valid: { code: 'RecoveryCode', minutes: 'ExpiresInMinutes' },
  recovery_code_invalid: {},
  mfa_reset_requested: { url: 'CancelURL', at: 'EffectiveAt' },
  mfa_reset_completed: {},
  mfa_reset_cancelled: {},
};

/** Stands for a value in the formatted text until the HTML body puts it in its element (never typed by anyone). */
const marker = (name: string) => `\u0001${name}\u0001`;

/**
 * A built-in email in `language`, from the hosted UI's message catalogue (`email.<type>.subject` / `.body`), so mail
 * and pages say the same things in the same languages. The plain-text body is the formatted text; the HTML body is
 * the same text, escaped, one paragraph per blank line, with the code emphasised and links made links.
 */
function builtIn(type: CourierTemplateType, data: Record<string, unknown>, language: Language): RenderedEmail {
  const t = translator(language);
  const fields = PLACEHOLDERS[type];
  if (!fields) throw new TypeError(`unknown courier template type "${type}"`);
  const value = (name: keyof typeof fields) => {
    const field = fields[name];
    return field === undefined ? undefined : data[field];
  };
  const values: Values = {};
  const markers: Values = {};
  for (const name of Object.keys(fields) as (keyof typeof fields)[]) {
    const v = value(name);
    if (name === 'minutes') values.minutes = markers.minutes = Number(v ?? 0);
    else if (name === 'at') {
      // Rendering never throws (it runs in the transaction of the action that sends the mail): a missing date is
      // shown as the epoch rather than failing the action.
      const date = typeof v === 'string' || typeof v === 'number' ? new Date(v) : new Date(0);
      values.at = markers.at = Number.isNaN(date.getTime()) ? new Date(0) : date;
    }
    else {
      values[name] = v === undefined || v === null ? '' : String(v);
      markers[name] = marker(name);
    }
  }
  const subjectKey = `email.${type}.subject` as MessageKey;
  const bodyKey = `email.${type}.body` as MessageKey;
  const text = `${t.t(bodyKey, values)}\n`;
  const html = t
    .t(bodyKey, markers)
    .split(/\n{2,}/)
    .map((paragraph) => {
      const escaped = escapeHtml(paragraph).replace(/\n/g, '<br>');
      if (escaped === marker('code')) return `<p style="font-size:1.5em;letter-spacing:0.2em"><strong>${escapeHtml(values.code)}</strong></p>`;
      const url = escapeHtml(values.url ?? '');
      return `<p>${escaped.replace(marker('code'), `<strong>${escapeHtml(values.code ?? '')}</strong>`).replace(marker('url'), `<a href="${url}">${url}</a>`)}</p>`;
    })
    .join('');
  return { subject: t.t(subjectKey, values), text, html };
}

export const TEMPLATE_TYPES = Object.keys(PLACEHOLDERS) as CourierTemplateType[];

/** `verification_code_valid` → `verification_code/valid` (Kratos's folder layout). */
export function templateFolder(type: string): string {
  const cut = type.lastIndexOf('_');
  return `${type.slice(0, cut)}/${type.slice(cut + 1)}`;
}

const escapeHtml = (text: unknown) =>
  String(text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Replaces `{{ .Field }}` (and `{{.Field}}`) with the field's value; unknown fields become empty. */
export function substitute(template: string, fields: Record<string, unknown>, escape: (s: string) => string = (s) => s): string {
  return template.replace(/\{\{-?\s*\.([A-Za-z][A-Za-z0-9_]*)\s*-?\}\}/g, (_m, name: string) => {
    const value = fields[name];
    return value === undefined || value === null ? '' : escape(String(value));
  });
}

/** Text messages Kairos sends (SMS codes), with the data field holding the code and Kratos's `template_data` names. */
const SMS_TEMPLATES: Partial<Record<CourierTemplateType, { code: string; snake: Record<string, string> }>> = {
  login_code_valid: { code: 'LoginCode', snake: { LoginCode: 'login_code', ExpiresInMinutes: 'expires_in_minutes' } },
  verification_code_valid: { code: 'VerificationCode', snake: { VerificationCode: 'verification_code', VerificationURL: 'verification_url', ExpiresInMinutes: 'expires_in_minutes' } },
};

export const SMS_TEMPLATE_TYPES = Object.keys(SMS_TEMPLATES) as CourierTemplateType[];

export interface RenderedSms {
  text: string;
  /**
   * What Kratos's HTTP channel passes the provider's Jsonnet as `ctx.template_data` (Kratos's SMS models:
   * `{to, login_code, expires_in_minutes, request_url_domain}`, `{to, verification_code, …}`).
   */
  templateData: Record<string, unknown>;
}

export class Templates {
  constructor(
    private readonly overridePath: string | undefined,
    /** The brand named in text messages, and the host their WebOTP line binds the code to (`@host #code`). */
    private readonly sms: { brand: string; domain: string } = { brand: 'Kairos', domain: 'localhost' },
  ) {}

  /**
   * A text message of `type` in `language`: the catalogue's `sms.<type>` (or Kratos's override file
   * `<folder>/sms.body.gotmpl`). It ends with the origin-bound line of the WebOTP format (`@host #code`), so browsers
   * offer the code only on this site, and phones do not autofill it into a phishing page.
   */
  renderSms(type: CourierTemplateType, recipient: string, data: Record<string, unknown>, language: Language = 'en'): RenderedSms {
    const spec = SMS_TEMPLATES[type];
    if (!spec) throw new TypeError(`no text message template for "${type}"`);
    const fields = { To: recipient, RequestURLDomain: this.sms.domain, ...data };
    const templateData: Record<string, unknown> = { to: recipient, request_url_domain: this.sms.domain };
    for (const [field, name] of Object.entries(spec.snake)) if (data[field] !== undefined) templateData[name] = data[field];
    const override = this.overridePath ? join(this.overridePath, templateFolder(type), 'sms.body.gotmpl') : null;
    if (override && existsSync(override)) return { text: substitute(readFileSync(override, 'utf8'), fields), templateData };
    const text = translator(language).t(`sms.${type}` as MessageKey, {
      brand: this.sms.brand,
      code: String(data[spec.code] ?? ''),
      minutes: Number(data.ExpiresInMinutes ?? 0),
      domain: this.sms.domain,
    });
    return { text, templateData };
  }

  /** The override files of `type` (Kratos's layout), each null when absent; all null without an override path. */
  private overrides(type: CourierTemplateType): { subject: string | null; text: string | null; html: string | null } {
    if (!PLACEHOLDERS[type]) throw new TypeError(`unknown courier template type "${type}"`);
    if (!this.overridePath) return { subject: null, text: null, html: null };
    const dir = join(this.overridePath, templateFolder(type));
    const read = (file: string) => {
      const path = join(dir, file);
      return existsSync(path) ? readFileSync(path, 'utf8') : null;
    };
    return { subject: read('email.subject.gotmpl'), text: read('email.body.plaintext.gotmpl'), html: read('email.body.gotmpl') };
  }

  /**
   * The email of `type` for `recipient` in `language` (the built-in text; an override file, which has one language,
   * replaces its part whatever the language).
   */
  render(type: CourierTemplateType, recipient: string, data: Record<string, unknown>, language: Language = 'en'): RenderedEmail {
    const source = this.overrides(type);
    const fields = { To: recipient, ...data };
    const built = builtIn(type, data, language);
    return {
      subject: (source.subject !== null ? substitute(source.subject, fields) : built.subject).trim().replace(/[\r\n]+/g, ' '),
      text: source.text !== null ? substitute(source.text, fields) : built.text,
      html: source.html !== null ? substitute(source.html, fields, escapeHtml) : built.html,
    };
  }
}
