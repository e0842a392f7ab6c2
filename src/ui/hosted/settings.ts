/**
 * The parts of the settings page that are not a flow's nodes: the factors with when they were added and last used,
 * the addresses with their verified state, and the devices (sessions) signed in to the account. Presentation only:
 * the data comes from services, and every change goes through a flow or a CSRF-checked hosted form.
 */
import Bowser from 'bowser';
import type { Translator } from '../i18n/catalogue.js';
import type { MessageKey } from '../i18n/en.js';
import { escapeHtml } from './layout.js';

/** A factor on the settings page ("Authenticator app — added 1 Dec 2026, last used 3 Dec 2026"). */
export interface FactorSummary {
  type: string;
  /** Catalogue key of its name, or its type when the catalogue has none. */
  label: string;
  enrolled: boolean;
  sinceMs: number | null;
  /** The last time it completed a sign-in step (from the sessions' recorded methods); null when never. */
  lastUsedMs?: number | null;
}

export interface AddressSummary {
  value: string;
  verified: boolean;
  /** `email`, or `sms` for a phone number (verified by a code by text message). */
  via?: string;
}

export interface DeviceSummary {
  id: string;
  current: boolean;
  userAgent: string | null;
  ipAddress: string | null;
  authenticatedAtMs: number;
}

/** The settings page's extra data; `csrfToken` signs the hosted forms (sign out a device). */
export interface SettingsExtras {
  flowId: string;
  csrfToken: string;
  addresses: AddressSummary[];
  devices: DeviceSummary[] | null;
  /** How many devices were just signed out (after the sign-out form). */
  revoked?: number;
}

const FACTOR_KEYS: Record<string, MessageKey> = {
  password: 'factor.password',
  totp: 'factor.totp',
  lookup_secret: 'factor.lookup_secret',
  webauthn: 'factor.webauthn',
  passkey: 'factor.passkey',
  code: 'factor.code',
  remembered_device: 'factor.remembered_device',
};

export function factorName(t: Translator, type: string): string {
  const key = FACTOR_KEYS[type];
  return key ? t.t(key) : type;
}

/** "Added 1 Dec 2026, 20:31 UTC · last used 3 Dec 2026, 08:00 UTC". */
export function factorWhen(t: Translator, f: FactorSummary): string {
  if (!f.enrolled || f.sinceMs === null) return '';
  return `${t.t('factor.added', { at: new Date(f.sinceMs) })} · ${f.lastUsedMs ? t.t('factor.lastUsed', { at: new Date(f.lastUsedMs) }) : t.t('factor.neverUsed')}`;
}

export function factorsCard(t: Translator, factors: FactorSummary[]): string {
  if (factors.length === 0) return '';
  const items = factors
    .map((f) => {
      const when = f.enrolled && f.sinceMs !== null ? `<span class="when">${escapeHtml(factorWhen(t, f))}</span>` : '';
      return `<li data-testid="ui/factor/${escapeHtml(f.type)}" data-enrolled="${f.enrolled}"><span>${escapeHtml(factorName(t, f.type))}${when}</span><span class="badge ${f.enrolled ? 'on' : 'off'}">${escapeHtml(t.t(f.enrolled ? 'factor.on' : 'factor.off'))}</span></li>`;
    })
    .join('');
  return `<section class="card" aria-labelledby="factors-h"><h3 id="factors-h">${escapeHtml(t.t('factors.heading'))}</h3><ul class="factors">${items}</ul></section>`;
}

/** The account's own addresses, verified or not, with a way to verify; recovery only uses verified ones. */
export function addressesCard(t: Translator, addresses: AddressSummary[]): string {
  if (addresses.length === 0) return '';
  const items = addresses
    .map(
      (a) =>
        `<li data-testid="ui/address" data-verified="${a.verified}"><span>${escapeHtml(a.value)}</span><span class="badge ${a.verified ? 'on' : 'off'}">${escapeHtml(t.t(a.verified ? 'address.verified' : 'address.unverified'))}</span>${a.verified ? '' : `<a class="button small" href="/ui/verification" data-testid="ui/address/verify">${escapeHtml(t.t('address.verify'))}</a>`}</li>`,
    )
    .join('');
  const warning = addresses
    .filter((a) => !a.verified && a.via !== 'sms')
    .map((a) => `<p class="msg callout error" role="status" data-testid="ui/address/unverified-warning">${escapeHtml(t.t('address.unverifiedWarning', { address: a.value }))}</p>`)
    .join('');
  const heading = addresses.some((a) => a.via === 'sms') ? t.t('address.heading.withPhone') : t.t('label.email');
  return `<section class="card" aria-labelledby="addresses-h"><h3 id="addresses-h">${escapeHtml(heading)}</h3>${warning}<ul class="addresses">${items}</ul><p class="help">${escapeHtml(t.t('address.help'))}</p></section>`;
}

/** "Chrome on Linux", from the user agent (Bowser); "Unknown device" without one. */
export function deviceName(t: Translator, userAgent: string | null): string {
  if (!userAgent) return t.t('sessions.unknownDevice');
  const parsed = Bowser.parse(userAgent);
  const browser = parsed.browser.name;
  const os = parsed.os.name;
  if (browser && os) return t.t('sessions.device', { browser, os });
  return browser ?? os ?? t.t('sessions.unknownDevice');
}

export function devicesCard(t: Translator, extras: SettingsExtras): string {
  const devices = extras.devices;
  if (!devices) return '';
  const form = (sessionId: string, label: string, visible: string, cls: string) =>
    `<form method="POST" action="/ui/sessions/revoke"><input type="hidden" name="csrf_token" value="${escapeHtml(extras.csrfToken)}"><input type="hidden" name="flow" value="${escapeHtml(extras.flowId)}"><button type="submit" class="${cls}" name="session_id" value="${escapeHtml(sessionId)}" aria-label="${escapeHtml(label)}" data-testid="ui/session/revoke">${escapeHtml(visible)}</button></form>`;
  const items = devices
    .map((d) => {
      const name = deviceName(t, d.userAgent);
      const details = [t.t('sessions.signedIn', { at: new Date(d.authenticatedAtMs) }), d.ipAddress ? t.t('sessions.ip', { ip: d.ipAddress }) : ''].filter(Boolean).join(' ');
      const action = d.current ? `<span class="badge on">${escapeHtml(t.t('sessions.current'))}</span>` : form(d.id, t.t('sessions.revoke.label', { device: name }), t.t('sessions.revoke'), 'danger small');
      return `<li data-testid="ui/device" data-current="${d.current}"><span>${escapeHtml(name)}<span class="when">${escapeHtml(details)}</span></span>${action}</li>`;
    })
    .join('');
  const others = devices.filter((d) => !d.current).length;
  const revoked = extras.revoked !== undefined ? `<div class="msg success" role="status" data-testid="ui/sessions/revoked">${escapeHtml(t.t('sessions.revoked', { count: extras.revoked }))}</div>` : '';
  return `<section class="card" aria-labelledby="sessions"><p class="help">${escapeHtml(t.t('sessions.help'))}</p>${revoked}<ul class="sessions">${items}</ul>${others === 0 ? `<p class="help">${escapeHtml(t.t('sessions.none'))}</p>` : others > 1 ? `<div class="actions">${form('others', t.t('sessions.revokeOthers'), t.t('sessions.revokeOthers'), 'secondary')}</div>` : ''}</section>`;
}
