/**
 * The hosted UI's message catalogue and its translator. Every text a hosted page shows comes from here, keyed by
 * message id (see en.ts), in the languages Kairos ships. Formatting is ICU MessageFormat through intl-messageformat
 * (FormatJS), which uses `Intl.PluralRules` for plural forms and `Intl.DateTimeFormat` for dates; the language is
 * negotiated with @formatjs/intl-localematcher (RFC 4647 lookup, as `Intl.LocaleMatcher` will).
 *
 * API responses keep Kratos's English `text`: the hosted UI localises a flow message by its id and `context`, and
 * falls back to the message's own text for an id it does not know (a module's newer message) or a context that
 * lacks a value the translation needs.
 */
import { IntlMessageFormat, type Formats } from 'intl-messageformat';
import { match } from '@formatjs/intl-localematcher';
import Negotiator from 'negotiator';
import type { UiText } from '../messages.js';
import { en, type MessageKey } from './en.js';
import { de } from './de.js';

/** The languages Kairos ships, each complete (catalogue.test.ts). `ui.languages` picks among these. */
export const SHIPPED_LANGUAGES = ['en', 'de'] as const;
export type Language = (typeof SHIPPED_LANGUAGES)[number];

export const CATALOGUES: Record<Language, Record<MessageKey, string>> = { en, de };

/** What each language calls itself, for the language switcher (in its own language, as users look for it). */
export const LANGUAGE_NAMES: Record<Language, string> = { en: 'English', de: 'Deutsch' };

/**
 * Named date formats used in the catalogue (`{x, date, when}`). Server-rendered pages do not know the reader's
 * time zone (no script is required), so times are shown in UTC and say so.
 */
export const DATE_FORMATS: Partial<Formats> = {
  date: {
    when: { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: 'UTC', timeZoneName: 'short' },
    day: { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' },
  },
};

export type Values = Record<string, string | number | boolean | Date | null | undefined>;

const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** "3 minutes", "1 Stunde 5 Minuten": each unit through `Intl.NumberFormat`'s unit style. */
function duration(language: Language, totalSeconds: number): string {
  let rest = Math.round(Math.abs(totalSeconds));
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const seconds = rest - minutes * 60;
  const unit = (n: number, u: 'hour' | 'minute' | 'second') => new Intl.NumberFormat(language, { style: 'unit', unit: u, unitDisplay: 'long' }).format(n);
  const parts = [hours ? unit(hours, 'hour') : '', minutes ? unit(minutes, 'minute') : '', seconds || (!hours && !minutes) ? unit(seconds, 'second') : ''];
  return parts.filter(Boolean).join(' ');
}

const entryName = (issuer: unknown, account: unknown) => (typeof issuer === 'string' && issuer ? `${issuer} (${String(account ?? '')})` : String(account ?? ''));

export class Translator {
  private readonly cache = new Map<string, IntlMessageFormat>();

  constructor(readonly language: Language) {}

  private format(key: MessageKey, values: Values): string {
    let formatter = this.cache.get(key);
    if (!formatter) {
      formatter = new IntlMessageFormat(CATALOGUES[this.language][key], this.language, DATE_FORMATS);
      this.cache.set(key, formatter);
    }
    return String(formatter.format(values as Record<string, never>));
  }

  /** A page text. Throws when a placeholder has no value (a programming error the tests catch). */
  t(key: MessageKey, values: Values = {}): string {
    return this.format(key, values);
  }

  /** Whether the catalogue has this page-text key. */
  knowsKey(key: string): key is MessageKey {
    return Object.hasOwn(CATALOGUES[this.language], key);
  }

  /** Whether the catalogue has a text for this flow message id. */
  knows(id: number): boolean {
    return Object.hasOwn(CATALOGUES[this.language], String(id));
  }

  /**
   * A flow message in this language, from its id and context; its own (English) text when the id is unknown or
   * the context lacks a value.
   */
  message(m: UiText): string {
    if (!this.knows(m.id)) return m.text;
    try {
      return this.format(String(m.id) as MessageKey, this.valuesOf(m));
    } catch {
      return m.text;
    }
  }

  /** A date and time, as the catalogue shows them. */
  date(ms: number): string {
    return new Intl.DateTimeFormat(this.language, DATE_FORMATS.date!.when).format(new Date(ms));
  }

  /** The values a translation reads: the message's context, with dates as Dates and a few derived values. */
  private valuesOf(m: UiText): Values {
    const context = m.context ?? {};
    const values: Values = {};
    for (const [key, value] of Object.entries(context)) {
      if (typeof value === 'string' && key.endsWith('_at') && ISO_DATE.test(value)) values[key] = new Date(value);
      else if (typeof value === 'boolean') values[key] = String(value);
      else if (typeof value === 'string' || typeof value === 'number' || value === null) values[key] = value;
    }
    if (typeof m.text === 'string' && !('secret' in values) && (m.id === 1050006 || m.id === 1050009)) values.secret = m.text;
    if (m.id === 4900003 && typeof context.offset_seconds === 'number') values.offset = duration(this.language, context.offset_seconds);
    if (m.id === 4900004 || m.id === 4900006) values.entry = entryName(context.issuer, context.account_name);
    if (m.id === 4900005) {
      const describe = (p: unknown) => {
        const q = (p ?? {}) as Record<string, unknown>;
        return this.t('totp.parameters', { algorithm: String(q.algorithm), digits: Number(q.digits), period: Number(q.period) });
      };
      values.detected = describe(context.detected);
      values.expected = describe(context.expected);
    }
    if (m.id === 1900400 && typeof context.delay_seconds === 'number') values.hours = Math.round((context.delay_seconds / 3600) * 10) / 10;
    // MFA policy (mfa/policy/messages.ts): methods by their names in this language.
    const methodName = (method: string) => (this.knowsKey(`factor.${method}`) ? this.t(`factor.${method}` as MessageKey) : method);
    if (typeof context.allowed_methods === 'string') values.methods = context.allowed_methods.split(',').filter(Boolean).map(methodName).join(', ');
    if (m.id === 4901001 && typeof context.method === 'string') values.method_name = methodName(context.method);
    if (m.id === 1901000) values.has_logins = typeof context.logins_left === 'number' ? 'yes' : 'no';
    // Security keys (credentials/webauthn/messages.ts): lists become words in this language.
    const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
    if (m.id === 4900610) {
      const names = strings(context.keys);
      values.count = names.length;
      values.names = names.map((n) => `“${n}”`).join(', ');
      values.registered_rp_ids = strings(context.registered_rp_ids).join(', ');
    }
    if (m.id === 1900602 && Array.isArray(context.keys)) {
      values.list = (context.keys as Record<string, unknown>[])
        .map((k) =>
          this.t('webauthn.keyLine', {
            name: String(k.display_name ?? ''),
            added_at: new Date(String(k.added_at)),
            used: String(typeof k.last_used_at === 'string'),
            last_used_at: typeof k.last_used_at === 'string' ? new Date(k.last_used_at) : new Date(0),
          }),
        )
        .join('; ');
    }
    if (m.id === 4900806 && typeof context.retry_after_seconds === 'number') values.retry_after_minutes = Math.max(1, Math.ceil(context.retry_after_seconds / 60));
    return values;
  }
}

const translators = new Map<Language, Translator>();
export function translator(language: Language): Translator {
  let t = translators.get(language);
  if (!t) translators.set(language, (t = new Translator(language)));
  return t;
}

/** The cookie the language switcher sets. */
export const LANGUAGE_COOKIE = 'kairos_ui_language';

/**
 * The language of a page: the reader's choice (the switcher's cookie) when offered, else the best match of
 * `Accept-Language` among `offered` (RFC 4647 lookup), else the first offered language.
 */
export function pickLanguage(offered: readonly Language[], input: { cookie?: string | undefined; acceptLanguage?: string | undefined }): Language {
  const fallback = offered[0] ?? 'en';
  if (input.cookie && (offered as readonly string[]).includes(input.cookie)) return input.cookie as Language;
  if (!input.acceptLanguage) return fallback;
  const requested = new Negotiator({ headers: { 'accept-language': input.acceptLanguage } }).languages().filter((l) => l !== '*');
  if (requested.length === 0) return fallback;
  try {
    return match(requested, [...offered], fallback, { algorithm: 'lookup' }) as Language;
  } catch {
    return fallback;
  }
}

export function isShippedLanguage(value: unknown): value is Language {
  return typeof value === 'string' && (SHIPPED_LANGUAGES as readonly string[]).includes(value);
}
