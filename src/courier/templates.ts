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
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CourierTemplateType } from './courier.js';

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

const BUILT_IN: Record<CourierTemplateType, TemplateSource> = {
  verification_code_valid: {
    subject: 'Please verify your email address',
    text: 'Hi,\n\nplease verify your account by entering the following code:\n\n{{ .VerificationCode }}\n\nor open this page: {{ .VerificationURL }}\n\nThe code expires in {{ .ExpiresInMinutes }} minutes. If you did not ask for it, ignore this email.\n',
    html: '<p>Hi,</p><p>please verify your account by entering the following code:</p><p style="font-size:1.5em;letter-spacing:0.2em"><strong>{{ .VerificationCode }}</strong></p><p>or open <a href="{{ .VerificationURL }}">this page</a>.</p><p>The code expires in {{ .ExpiresInMinutes }} minutes. If you did not ask for it, ignore this email.</p>',
  },
  verification_code_invalid: {
    subject: 'Someone tried to verify this email address',
    text: 'Hi,\n\nsomeone asked to verify this email address, but we were unable to find an account for it.\n\nIf this was you, check whether you signed up using a different address. If it was not you, ignore this email.\n',
    html: '<p>Hi,</p><p>someone asked to verify this email address, but we were unable to find an account for it.</p><p>If this was you, check whether you signed up using a different address. If it was not you, ignore this email.</p>',
  },
  login_code_valid: {
    subject: 'Your sign-in code',
    text: 'Hi,\n\nplease enter the following code to finish signing in:\n\n{{ .LoginCode }}\n\nThe code expires in {{ .ExpiresInMinutes }} minutes. If you did not just sign in with your password, someone else knows it: change your password now.\n',
    html: '<p>Hi,</p><p>please enter the following code to finish signing in:</p><p style="font-size:1.5em;letter-spacing:0.2em"><strong>{{ .LoginCode }}</strong></p><p>The code expires in {{ .ExpiresInMinutes }} minutes. If you did not just sign in with your password, someone else knows it: change your password now.</p>',
  },
  recovery_code_valid: {
    subject: 'Recover access to your account',
    text: 'Hi,\n\nplease recover access to your account by entering the following code:\n\n{{ .RecoveryCode }}\n\nThe code expires in {{ .ExpiresInMinutes }} minutes. If you did not ask for it, ignore this email and consider changing your password.\n',
    html: '<p>Hi,</p><p>please recover access to your account by entering the following code:</p><p style="font-size:1.5em;letter-spacing:0.2em"><strong>{{ .RecoveryCode }}</strong></p><p>The code expires in {{ .ExpiresInMinutes }} minutes. If you did not ask for it, ignore this email and consider changing your password.</p>',
  },
  recovery_code_invalid: {
    subject: 'Account access attempted',
    text: 'Hi,\n\nyou (or someone else) entered this email address when trying to recover access to an account, but this address is not linked to an account here.\n\nIf this was not you, ignore this email.\n',
    html: '<p>Hi,</p><p>you (or someone else) entered this email address when trying to recover access to an account, but this address is not linked to an account here.</p><p>If this was not you, ignore this email.</p>',
  },
  mfa_reset_requested: {
    subject: 'Your second factor will be reset',
    text: 'Hi,\n\nsomeone recovered your account and asked to remove its second factor (authenticator app and recovery codes). This takes effect at {{ .EffectiveAt }}.\n\nIf this was not you, cancel it now: {{ .CancelURL }}\n',
    html: '<p>Hi,</p><p>someone recovered your account and asked to remove its second factor (authenticator app and recovery codes). This takes effect at {{ .EffectiveAt }}.</p><p>If this was not you, <a href="{{ .CancelURL }}">cancel it now</a>.</p>',
  },
  mfa_reset_completed: {
    subject: 'Your second factor was reset',
    text: 'Hi,\n\nthe second factor of your account (authenticator app and recovery codes) was removed after an account recovery. Set up a new one in your account settings.\n\nIf this was not you, contact support immediately.\n',
    html: '<p>Hi,</p><p>the second factor of your account (authenticator app and recovery codes) was removed after an account recovery. Set up a new one in your account settings.</p><p>If this was not you, contact support immediately.</p>',
  },
  mfa_reset_cancelled: {
    subject: 'The reset of your second factor was cancelled',
    text: 'Hi,\n\nthe requested reset of your second factor was cancelled; your authenticator app and recovery codes stay as they were.\n',
    html: '<p>Hi,</p><p>the requested reset of your second factor was cancelled; your authenticator app and recovery codes stay as they were.</p>',
  },
};

export const TEMPLATE_TYPES = Object.keys(BUILT_IN) as CourierTemplateType[];

/** `verification_code_valid` → `verification_code/valid` (Kratos's folder layout). */
export function templateFolder(type: string): string {
  const cut = type.lastIndexOf('_');
  return `${type.slice(0, cut)}/${type.slice(cut + 1)}`;
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Replaces `{{ .Field }}` (and `{{.Field}}`) with the field's value; unknown fields become empty. */
export function substitute(template: string, fields: Record<string, unknown>, escape: (s: string) => string = (s) => s): string {
  return template.replace(/\{\{-?\s*\.([A-Za-z][A-Za-z0-9_]*)\s*-?\}\}/g, (_m, name: string) => {
    const value = fields[name];
    return value === undefined || value === null ? '' : escape(String(value));
  });
}

export class Templates {
  constructor(private readonly overridePath: string | undefined) {}

  private source(type: CourierTemplateType): TemplateSource {
    const builtIn = BUILT_IN[type];
    if (!builtIn) throw new TypeError(`unknown courier template type "${type}"`);
    if (!this.overridePath) return builtIn;
    const dir = join(this.overridePath, templateFolder(type));
    const read = (file: string, fallback: string) => {
      const path = join(dir, file);
      return existsSync(path) ? readFileSync(path, 'utf8') : fallback;
    };
    return {
      subject: read('email.subject.gotmpl', builtIn.subject),
      text: read('email.body.plaintext.gotmpl', builtIn.text),
      html: read('email.body.gotmpl', builtIn.html),
    };
  }

  render(type: CourierTemplateType, recipient: string, data: Record<string, unknown>): RenderedEmail {
    const source = this.source(type);
    const fields = { To: recipient, ...data };
    return {
      subject: substitute(source.subject, fields).trim().replace(/[\r\n]+/g, ' '),
      text: substitute(source.text, fields),
      html: substitute(source.html, fields, escapeHtml),
    };
  }
}
