/**
 * The language a message is written in, decided when it is queued (issue 19): the recipient's own preference when
 * the identity states one (a trait or `metadata_public` field named `language` or `locale`, e.g. `de` or `de-CH`),
 * else the language of the request that caused the message (the hosted UI's language cookie first, then
 * `Accept-Language`), else the first of `ui.languages`. Only offered languages (`ui.languages`) are used.
 */
import { pickLanguage, type Language } from '../ui/i18n/catalogue.js';

const PREFERENCE_FIELDS = ['language', 'locale'] as const;

/** The identity's stated language preference, as an `Accept-Language` value, or null when it states none. */
export function identityLanguagePreference(traits: unknown, metadataPublic: unknown): string | null {
  for (const source of [traits, metadataPublic]) {
    if (typeof source !== 'object' || source === null) continue;
    for (const field of PREFERENCE_FIELDS) {
      const value = (source as Record<string, unknown>)[field];
      // A language tag (RFC 5646 shape, loosely): letters, digits, hyphens or underscores, nothing a header could misread.
      if (typeof value === 'string' && /^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$/.test(value)) return value.replace(/_/g, '-');
    }
  }
  return null;
}

/** Picks the message language among `offered` (see the module header). */
export function messageLanguage(offered: readonly Language[], input: { identityPreference?: string | null; acceptLanguage?: string | null }): Language {
  if (input.identityPreference) {
    const fromIdentity = pickLanguage(offered, { acceptLanguage: input.identityPreference });
    // pickLanguage falls back to the first offered language: only a real match counts as the identity's choice.
    if (fromIdentity.toLowerCase() === input.identityPreference.slice(0, fromIdentity.length).toLowerCase()) return fromIdentity;
  }
  return pickLanguage(offered, { acceptLanguage: input.acceptLanguage ?? undefined });
}
