/** The configuration page's rows: what is in force, and the config key that sets it (read-only, never a secret). */
import type { KairosConfig } from '../config/schema.js';

export function configurationRows(config: KairosConfig, secondFactorTypes: readonly string[]): [string, string, string][] {
  const m = config.selfservice.methods;
  const totp = m.totp.config;
  const onOff = (b: boolean) => (b ? 'enabled' : 'disabled');
  return [
    ['Password', onOff(m.password.enabled), 'selfservice.methods.password.enabled'],
    ['Authenticator app (TOTP)', onOff(m.totp.enabled), 'selfservice.methods.totp.enabled'],
    ['Recovery codes', onOff(m.lookup_secret.enabled), 'selfservice.methods.lookup_secret.enabled'],
    ['Recovery codes per set', String(m.lookup_secret.config.count), 'selfservice.methods.lookup_secret.config.count'],
    ['Security keys (WebAuthn)', onOff(m.webauthn.enabled), 'selfservice.methods.webauthn.enabled'],
    ['Passkeys', onOff(m.passkey.enabled), 'selfservice.methods.passkey.enabled'],
    ['Emailed codes as a second factor', onOff(m.code.mfa_enabled), 'selfservice.methods.code.mfa_enabled'],
    ['Second factors in play', secondFactorTypes.join(', ') || 'none', '(from the methods above)'],
    ['TOTP issuer (name shown in apps)', totp.issuer ?? `${config.ui.brand.name} (the brand name; no issuer set)`, totp.issuer ? 'selfservice.methods.totp.config.issuer' : 'selfservice.methods.totp.config.issuer, else ui.brand.name'],
    ['TOTP algorithm for new enrollments', totp.algorithm, 'selfservice.methods.totp.config.algorithm'],
    ['TOTP digits for new enrollments', String(totp.digits), 'selfservice.methods.totp.config.digits'],
    ['TOTP period for new enrollments', `${totp.period} s`, 'selfservice.methods.totp.config.period'],
    ['TOTP accepted window', `±${totp.window} steps`, 'selfservice.methods.totp.config.window'],
    ['Recovery codes required at first enrollment', onOff(totp.require_recovery_codes), 'selfservice.methods.totp.config.require_recovery_codes'],
    ['Diagnosis and resync bound (clock skew searched)', totp.diagnostics.max_skew, 'selfservice.methods.totp.config.diagnostics.max_skew'],
    ['Hints to users about rejected codes', onOff(totp.diagnostics.user_hints), 'selfservice.methods.totp.config.diagnostics.user_hints'],
    ['Wrong codes before a delay', String(totp.lockout.free_failures), 'selfservice.methods.totp.config.lockout.free_failures'],
    ['First delay', totp.lockout.base_delay, 'selfservice.methods.totp.config.lockout.base_delay'],
    ['Longest delay', totp.lockout.max_delay, 'selfservice.methods.totp.config.lockout.max_delay'],
    ['Hard lock after consecutive wrong codes', String(totp.lockout.max_consecutive_failures), 'selfservice.methods.totp.config.lockout.max_consecutive_failures'],
    ['MFA reset waiting period', config.selfservice.flows.recovery.mfa_reset_delay, 'selfservice.flows.recovery.mfa_reset_delay'],
    ['Recovery by email', onOff(config.selfservice.flows.recovery.enabled), 'selfservice.flows.recovery.enabled'],
    ['Assurance level required by whoami', config.session.whoami.required_aal, 'session.whoami.required_aal'],
    ['Assurance level required by settings', config.selfservice.flows.settings.required_aal, 'selfservice.flows.settings.required_aal'],
    ['Session lifespan', config.session.lifespan, 'session.lifespan'],
    ...policyRows(config),
    ['Console listener', config.console.listener, 'console.listener'],
    ['Console session lifespan / idle timeout', `${config.console.session_lifespan} / ${config.console.idle_timeout}`, 'console.session_lifespan, console.idle_timeout'],
    ['Four eyes for privileged MFA resets', onOff(config.console.four_eyes), 'console.four_eyes'],
    ['Four-eyes request lifetime', config.console.approval_lifespan, 'console.approval_lifespan'],
  ];
}

/** One row per MFA policy rule, in match order, then the default rule (README "MFA policy by role"). */
function policyRows(config: KairosConfig): [string, string, string][] {
  const mfa = config.selfservice.mfa;
  const describe = (rule: { required?: unknown; allowed_methods?: unknown; enrollment_grace?: unknown; remember_device?: unknown }) =>
    [
      `required: ${rule.required === undefined ? 'none' : Array.isArray(rule.required) ? rule.required.join(', ') : String(rule.required)}`,
      rule.allowed_methods ? `allowed: ${(rule.allowed_methods as string[]).join(', ')}` : null,
      rule.enrollment_grace !== undefined ? `grace: ${typeof rule.enrollment_grace === 'object' ? JSON.stringify(rule.enrollment_grace) : String(rule.enrollment_grace)}` : null,
      rule.remember_device ? `remember device: ${String(rule.remember_device)}` : null,
    ]
      .filter(Boolean)
      .join('; ');
  const rows: [string, string, string][] = (mfa?.policies ?? []).map((rule, i) => [
    `MFA policy rule "${rule.id}" (${i + 1}.)`,
    `${rule.match ? `when ${JSON.stringify(rule.match)}` : 'everyone'}; ${describe(rule)}`,
    `selfservice.mfa.policies[${i}]`,
  ]);
  const fallback = mfa?.default_policy ?? {};
  rows.push([`MFA policy rule "${fallback.id ?? 'default'}" (everyone else)`, describe(fallback), 'selfservice.mfa.default_policy']);
  return rows;
}
