/**
 * Kratos config keys that Kairos does not honour (yet). Each entry names a key of Kratos's config schema
 * (ory/kratos embedx/config.schema.json; `*` matches one map key) and says which values are inert — Kratos's default
 * or a disabled value, which would not change behaviour — and why any other value is refused. The loader refuses a
 * config that sets such a key to anything else, naming the key; it never accepts and ignores it.
 *
 * `accepted` entries are deliberate differences: Kairos accepts every value, and the README's
 * "Differences from Kratos" says what Kairos does instead. `test/compat/config-keys.test.ts` keeps this table, the
 * loader and that README list in step, and checks that every key of Kratos's schema is honoured or listed here.
 */
import { isDeepStrictEqual } from 'node:util';

export interface NotHonouredKey {
  path: string;
  /** Values that change nothing (Kratos's default, or "off"); anything else is refused. Absent for `accepted`. */
  inert?: (value: unknown) => boolean;
  /** Refused: why, in a few words. Accepted: what Kairos does instead. */
  note: string;
  kind: 'refused' | 'accepted';
}

const is = (...values: unknown[]) => (value: unknown) => values.some((v) => isDeepStrictEqual(v, value));
const off = (value: unknown) => value === false || value === null;
const empty = (value: unknown) =>
  value === null || value === '' || (Array.isArray(value) && value.length === 0) || (typeof value === 'object' && value !== null && Object.keys(value).length === 0);
/** A method that is disabled (or whose config is given while it stays disabled) changes nothing. */
const disabledMethod = (value: unknown) => typeof value === 'object' && value !== null && (value as { enabled?: unknown }).enabled !== true;

const refused = (path: string, inert: (value: unknown) => boolean, note: string): NotHonouredKey => ({ path, inert, note, kind: 'refused' });
const accepted = (path: string, note: string): NotHonouredKey => ({ path, note, kind: 'accepted' });

export const KRATOS_KEYS_NOT_HONOURED: NotHonouredKey[] = [
  // serve
  refused('serve.public.request_log', empty, 'request log options'),
  refused('serve.public.request_log.disable_for_health', off, 'request log options'),
  refused('serve.public.socket', empty, 'listening on a unix socket'),
  refused('serve.public.tls', empty, 'TLS termination; put a TLS proxy in front'),
  refused('serve.admin.request_log', empty, 'request log options'),
  refused('serve.admin.request_log.disable_for_health', off, 'request log options'),
  refused('serve.admin.socket', empty, 'listening on a unix socket'),
  refused('serve.admin.tls', empty, 'TLS termination; put a TLS proxy in front'),
  // selfservice methods
  // WebAuthn security keys (a second factor, or passwordless with `webauthn.config.passwordless`) and passkeys are
  // supported (credentials/webauthn, credentials/passkey).
  accepted('selfservice.methods.webauthn.config.rp.icon', 'deprecated by WebAuthn Level 2; browsers show no icon and Kairos sends none'),
  refused('selfservice.methods.passkey.config.authenticator_selection', empty, 'another authenticator selection (Kairos asks passkeys for a resident key and user verification, any attachment)'),
  refused('selfservice.methods.passkey.config.attestation', empty, 'passkey attestation (Kairos asks none)'),
  refused('selfservice.methods.passkey.config.timeouts', empty, 'per-ceremony passkey timeouts (Kairos: selfservice.methods.passkey.config.timeout)'),
  refused('selfservice.methods.oidc', disabledMethod, 'social sign-in (OIDC)'),
  refused('selfservice.methods.b2b', (v) => empty(v) || empty((v as { config?: { organizations?: unknown } }).config?.organizations ?? null), 'B2B single sign-on'),
  refused('selfservice.methods.password.config.haveibeenpwned_enabled', off, 'the Have I Been Pwned check needs network access to api.pwnedpasswords.com'),
  refused('selfservice.methods.password.config.haveibeenpwned_host', is('api.pwnedpasswords.com'), 'the Have I Been Pwned check'),
  refused('selfservice.methods.password.config.max_breaches', is(0), 'the Have I Been Pwned check'),
  accepted('selfservice.methods.password.config.ignore_network_errors', 'only affects the Have I Been Pwned check, which Kairos does not run'),
  refused('selfservice.methods.password.config.migrate_hook', disabledMethod, 'password migration web hooks'),
  refused('selfservice.methods.code.passwordless_enabled', off, 'sign-in by emailed code'),
  refused('selfservice.methods.code.config.max_submissions', is(5), 'another submission limit (Kairos: 5 per flow and per code, fixed)'),
  refused('selfservice.methods.code.config.missing_credential_fallback_enabled', off, 'code sign-in fallback'),
  accepted('selfservice.methods.link.enabled', 'recovery and verification use the code method; POST /admin/recovery/link is always available'),
  refused('selfservice.methods.link.config.lifespan', is('1h'), 'another lifespan for admin recovery links (Kairos: expires_in, default 1h)'),
  refused('selfservice.methods.link.config.base_url', empty, 'another base URL for links'),
  // selfservice flows
  refused('selfservice.flows.registration.login_hints', off, 'login hints on duplicate registrations'),
  refused('selfservice.flows.registration.enable_legacy_one_step', off, 'the legacy one-step registration'),
  accepted('selfservice.flows.registration.style', 'registration shows traits and password in one step, like profile_first with a single page'),
  accepted('selfservice.flows.login.style', 'login is unified (identifier and password together), Kratos\'s default'),
  refused('selfservice.flows.logout.clear_browser_data', off, 'the Clear-Site-Data header on logout'),
  refused('selfservice.flows.verification.notify_unknown_recipients', off, 'mails to unknown addresses'),
  refused('selfservice.flows.recovery.notify_unknown_recipients', off, 'mails to unknown addresses'),
  refused('selfservice.flows.recovery.after.default_browser_return_url', empty, 'a return URL after recovery (recovery continues in settings)'),
  // database, courier, clients
  refused('database.cleanup', (v) => empty(v) || isDeepStrictEqual(v, { batch_size: 100, older_than: '0s' }), 'a cleanup command'),
  refused('courier.templates', empty, 'templates inline in the config; use courier.template_override_path'),
  refused('courier.worker.pull_count', is(10), 'another batch size (Kairos: courier.worker.poll_interval)'),
  refused('courier.worker.pull_wait', is('1s'), 'use courier.worker.poll_interval'),
  refused('courier.delivery_strategy', is('smtp'), 'delivery over HTTP'),
  refused('courier.http', empty, 'delivery over HTTP'),
  refused('courier.smtp.client_cert_path', is(''), 'SMTP client certificates'),
  refused('courier.smtp.client_key_path', is(''), 'SMTP client certificates'),
  refused('courier.smtp.headers', empty, 'extra SMTP headers'),
  refused('courier.smtp.local_name', is('localhost'), 'another SMTP HELO name'),
  refused('oauth2_provider', (v) => empty(v) || empty((v as { url?: unknown }).url ?? null), 'Ory Hydra login and consent'),
  refused('preview.default_read_consistency_level', is('strong'), 'eventually consistent reads (Kairos always reads strongly)'),
  refused('tracing', (v) => empty(v) || empty((v as { provider?: unknown }).provider ?? null), 'tracing'),
  refused('log.redaction_text', empty, 'another redaction text (Kairos writes [redacted])'),
  // secrets, hashers, ciphers, cookies
  accepted('secrets.pagination', 'page tokens carry only a position and no secret, so nothing needs encrypting'),
  refused('hashers.argon2.salt_length', is(16), 'another argon2 salt length (16 bytes)'),
  refused('hashers.argon2.key_length', is(32), 'another argon2 key length (32 bytes)'),
  accepted('hashers.argon2.expected_duration', "used only by Kratos's `hashers argon2 calibrate` command"),
  accepted('hashers.argon2.expected_deviation', "used only by Kratos's `hashers argon2 calibrate` command"),
  accepted('hashers.argon2.dedicated_memory', "used only by Kratos's `hashers argon2 calibrate` command"),
  accepted('ciphers.algorithm', 'TOTP secrets and pending codes are always encrypted with AES-256-GCM under secrets.cipher, whichever algorithm is named'),
  refused('cookies.domain', empty, 'a CSRF cookie domain'),
  refused('cookies.path', is('/'), 'another CSRF cookie path'),
  refused('cookies.same_site', is('Lax'), 'another CSRF cookie SameSite'),
  refused('cookies.secure', () => false, 'setting the Secure flag (Kairos sets it when the public base URL is https)'),
  refused('session.cookie.secure', () => false, 'setting the Secure flag (Kairos sets it when the public base URL is https)'),
  refused('session.whoami.tokenizer', empty, 'session to JWT tokenizers'),
  // security, features, enterprise
  refused('security.account_enumeration.mitigate', off, 'account enumeration mitigation at login and registration'),
  refused('security.disallow_ref_in_identity_schemas', off, 'rejecting $ref in identity schemas'),
  refused('clients.smtp.disallow_private_ip_ranges', off, 'refusing SMTP servers on private addresses'),
  refused('feature_flags.cacheable_sessions', off, 'cached sessions'),
  accepted('feature_flags.cacheable_sessions_max_age', 'sessions are never cached'),
  accepted('feature_flags.use_continue_with_transitions', 'flows always answer with continue_with transitions (Kratos with this flag on)'),
  refused('feature_flags.choose_recovery_address', off, 'choosing the recovery address'),
  refused('feature_flags.legacy_continue_with_verification_ui', off, 'the legacy continue_with shape'),
  accepted('feature_flags.password_profile_registration_node_group', 'registration traits are in the password node group, where the reference UI renders them'),
  refused('feature_flags.legacy_oidc_registration_node_group', off, 'OIDC'),
  refused('feature_flags.legacy_allow_insecure_origins', off, 'insecure wildcard origins'),
  refused('feature_flags.refresh_login_choose_address', off, 'choosing the address at refresh'),
  refused('organizations', empty, 'organizations'),
  refused('enterprise', empty, 'enterprise features'),
  accepted('revision', 'informational'),
  accepted('help', 'a command-line flag of Kratos'),
  accepted('config', 'a command-line flag of Kratos'),
  accepted('sqa-opt-out', 'Kairos sends no telemetry'),
  accepted('watch-courier', 'kairos serve runs the courier unless courier.worker.enabled is false'),
  refused('expose-metrics-port', is(0), 'a separate metrics port (metrics are on the admin port)'),
];

function matches(pattern: string, path: string[]): boolean {
  const parts = pattern.split('.');
  return parts.length === path.length && parts.every((p, i) => p === '*' || p === path[i]);
}

export function notHonouredEntry(path: string[]): NotHonouredKey | undefined {
  return KRATOS_KEYS_NOT_HONOURED.find((e) => matches(e.path, path));
}

/** Is `path` a listed key or an object holding listed keys (`ciphers` for `ciphers.algorithm`)? */
export function isKratosKeyOrParent(path: string[]): boolean {
  return KRATOS_KEYS_NOT_HONOURED.some((e) => {
    const parts = e.path.split('.');
    return parts.length >= path.length && path.every((p, i) => parts[i] === '*' || parts[i] === p);
  });
}

/**
 * Walks the raw config and returns one message per key that is set to a value Kairos would not honour, and the
 * accepted differences that were set (for a startup note). Paths under a refused key are not reported twice.
 */
export function checkKratosKeys(raw: Record<string, unknown>): { refusals: string[]; differences: string[] } {
  const refusals: string[] = [];
  const differences: string[] = [];
  const walk = (value: unknown, path: string[]): void => {
    const entry = path.length > 0 ? notHonouredEntry(path) : undefined;
    if (entry) {
      const key = path.join('.');
      if (entry.kind === 'accepted') differences.push(`${key}: accepted; ${entry.note}`);
      else if (!entry.inert!(value)) refusals.push(`${key}: Kairos does not support it yet (${entry.note}); remove it or set it to Kratos's default to start`);
      return;
    }
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
  };
  walk(raw, []);
  return { refusals, differences };
}
