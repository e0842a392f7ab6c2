import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../support/clock.js';
import { AUDIT_EVENT_TYPES } from '../../audit/events.js';
import { LOGIN_DECISIONS, POLICY_AUDIT_EVENTS } from './index.js';
import { compilePolicies, enabledPolicyMethods, methodAllowed, parsePolicyDurationMs, PolicyConfigError, policyMethodOf, policyStatus, resolvePolicy, type MfaConfig, type PolicyMethod } from './rules.js';

const ALL: Set<PolicyMethod> = new Set(['totp', 'lookup_secret', 'webauthn', 'passkey', 'email', 'sms']);
const compile = (mfa: Partial<MfaConfig>, enabled: Set<PolicyMethod> = ALL, recoveryCodesAtEnrollment = true) =>
  compilePolicies({ policies: [], default_policy: {}, ...mfa } as MfaConfig, { enabled, recoveryCodesAtEnrollment });
const identity = (over: Partial<{ schemaId: string; traits: Record<string, unknown>; metadataPublic: unknown; metadataAdmin: unknown }> = {}) => ({
  schemaId: 'default',
  traits: { email: 'a@example.com' },
  metadataPublic: null,
  metadataAdmin: null,
  ...over,
});
const clock = new ManualClock(Date.UTC(2026, 11, 10));
const problemsOf = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    if (err instanceof PolicyConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('MFA policy rules: matching', () => {
  const policies = compile({
    policies: [
      { id: 'admins', match: { metadata_admin: { role: 'admin' } }, required: ['webauthn'], allowed_methods: ['webauthn', 'passkey', 'lookup_secret'] },
      { id: 'engineers', match: { traits: { 'org.department': ['engineering', 'sre'] } }, required: 'any' },
      { id: 'contractors', match: { metadata_public: { kind: 'contractor' } }, required: 'none', allowed_methods: ['totp', 'lookup_secret'] },
      { id: 'partners', match: { schema_id: 'partner' }, required: ['totp'], enrollment_grace: '7d' },
    ],
  });

  it('matches by metadata_admin, a nested trait (any of a list), metadata_public and schema id', () => {
    expect(resolvePolicy(identity({ metadataAdmin: { role: 'admin' } }), policies, clock).ruleId).toBe('admins');
    expect(resolvePolicy(identity({ traits: { org: { department: 'sre' } } }), policies, clock).ruleId).toBe('engineers');
    expect(resolvePolicy(identity({ metadataPublic: { kind: 'contractor' } }), policies, clock).ruleId).toBe('contractors');
    expect(resolvePolicy(identity({ schemaId: 'partner' }), policies, clock).ruleId).toBe('partners');
    const fallback = resolvePolicy(identity(), policies, clock);
    expect(fallback).toMatchObject({ ruleId: 'default', isDefault: true, requiresSecondFactor: false, ruleIndex: -1 });
  });

  it('first match wins: an admin engineer gets the admin rule, and the reason names the condition', () => {
    const both = identity({ metadataAdmin: { role: 'admin' }, traits: { org: { department: 'engineering' } } });
    const resolved = resolvePolicy(both, policies, clock);
    expect(resolved.ruleId).toBe('admins');
    expect(resolved.matchedBy).toEqual(['metadata_admin.role = "admin"']);
    expect(resolved.acceptedMethods).toEqual(['webauthn']);
  });

  it('a list value on the identity matches when any element does; values compare without coercion', () => {
    const p = compile({ policies: [{ id: 'r', match: { metadata_admin: { roles: 'admin', level: 2 } }, required: 'any' }] });
    expect(resolvePolicy(identity({ metadataAdmin: { roles: ['dev', 'admin'], level: 2 } }), p, clock).ruleId).toBe('r');
    expect(resolvePolicy(identity({ metadataAdmin: { roles: ['dev'], level: 2 } }), p, clock).ruleId).toBe('default');
    expect(resolvePolicy(identity({ metadataAdmin: { roles: 'admin', level: '2' } }), p, clock).ruleId).toBe('default');
  });

  it('required any accepts every allowed second factor, never a passkey', () => {
    const p = compile({ policies: [{ id: 'all', required: 'any' }] });
    expect(resolvePolicy(identity(), p, clock).acceptedMethods).toEqual(['totp', 'lookup_secret', 'webauthn', 'email', 'sms']);
  });

  it('without policies the configuration is inert (the server behaves as before)', () => {
    expect(compile({}).inert).toBe(true);
    expect(compile({ default_policy: { required: 'any' } }).inert).toBe(false);
    expect(compile({ default_policy: { allowed_methods: ['totp', 'lookup_secret', 'webauthn', 'passkey'] } }).inert).toBe(false);
  });
});

describe('MFA policy rules: grace', () => {
  const policies = compile({
    policies: [
      { id: 'timed', match: { metadata_public: { g: 'time' } }, required: 'any', enrollment_grace: '168h' },
      { id: 'counted', match: { metadata_public: { g: 'logins' } }, required: 'any', enrollment_grace: { logins: 3 } },
      { id: 'strict', match: { metadata_public: { g: 'none' } }, required: 'any' },
    ],
  });
  const start = Date.UTC(2026, 11, 1);

  it('by time: from when the rule first applied, with the deadline', () => {
    const c = new ManualClock(start);
    const state = { ruleId: 'timed', firstAppliedAtMs: start, loginCount: 1 };
    const who = identity({ metadataPublic: { g: 'time' } });
    expect(policyStatus(resolvePolicy(who, policies, c), [], state)).toEqual({ status: 'grace', graceDeadlineMs: start + 7 * 86_400_000, loginsLeft: null });
    c.advanceMs(7 * 86_400_000 - 1);
    expect(policyStatus(resolvePolicy(who, policies, c), [], state).status).toBe('grace');
    c.advanceMs(1);
    expect(policyStatus(resolvePolicy(who, policies, c), [], state).status).toBe('overdue');
    expect(policyStatus(resolvePolicy(who, policies, c), ['totp'], state).status).toBe('enrolled');
    // Never applied yet: the grace has not started.
    expect(policyStatus(resolvePolicy(who, policies, c), [], null)).toEqual({ status: 'grace', graceDeadlineMs: null, loginsLeft: null });
  });

  it('by sign-ins: the third sign-in is the last one in grace', () => {
    const who = identity({ metadataPublic: { g: 'logins' } });
    const r = resolvePolicy(who, policies, clock);
    const at = (loginCount: number) => policyStatus(r, [], { ruleId: 'counted', firstAppliedAtMs: start, loginCount });
    expect(at(1)).toMatchObject({ status: 'grace', loginsLeft: 2 });
    expect(at(3)).toMatchObject({ status: 'grace', loginsLeft: 0 });
    expect(at(4)).toMatchObject({ status: 'overdue', loginsLeft: 0 });
  });

  it('a state of another rule does not count (a role change starts the new rule\'s grace)', () => {
    const who = identity({ metadataPublic: { g: 'logins' } });
    expect(policyStatus(resolvePolicy(who, policies, clock), [], { ruleId: 'timed', firstAppliedAtMs: start, loginCount: 50 })).toMatchObject({ status: 'grace', loginsLeft: 3 });
  });

  it('without grace, a rule that requires a factor is overdue at once; a forbidden factor does not count', () => {
    const who = identity({ metadataPublic: { g: 'none' } });
    expect(policyStatus(resolvePolicy(who, policies, clock), [], null).status).toBe('overdue');
    const admins = compile({ policies: [{ id: 'a', required: ['webauthn'], allowed_methods: ['webauthn', 'lookup_secret'] }] });
    expect(policyStatus(resolvePolicy(identity(), admins, clock), ['totp'], null).status).toBe('overdue');
  });

  it('reads days in durations', () => {
    expect(parsePolicyDurationMs('7d')).toBe(7 * 86_400_000);
    expect(parsePolicyDurationMs('1d12h')).toBe(36 * 3_600_000);
    expect(parsePolicyDurationMs('90m')).toBe(90 * 60_000);
    expect(() => parsePolicyDurationMs('7 days')).toThrow(TypeError);
  });
});

describe('MFA policy rules: invalid configuration names the rule and the problem', () => {
  it('unknown, disabled, forbidden-but-required and first-factor methods', () => {
    const problems = problemsOf(() =>
      compile(
        {
          policies: [
            { id: 'admins', required: ['webauthn'], allowed_methods: ['totp', 'lookup_secret'] },
            { id: 'ops', match: { traits: { team: 'ops' } }, required: ['sms'], allowed_methods: ['password', 'code_sms'] },
          ],
        },
        new Set(['totp', 'lookup_secret']),
      ),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^selfservice\.mfa\.policies\[0\] \(admins\): required: method "webauthn" is not enabled \(selfservice\.methods\.webauthn\.enabled\)/),
        'selfservice.mfa.policies[1] (ops): required: method "sms" is not enabled (selfservice.methods.code.mfa_enabled and a courier.channels entry with id sms)',
        expect.stringMatching(/^selfservice\.mfa\.policies\[1\] \(ops\): allowed_methods: unknown method "code_sms" \(codes by text message are "sms"\)/),
        expect.stringMatching(/^selfservice\.mfa\.policies\[1\] \(ops\): allowed_methods: password is the first factor/),
      ]),
    );
  });

  it('a rule after a catch-all, duplicate ids, bad durations and keys', () => {
    const problems = problemsOf(() =>
      compile({
        policies: [
          { id: 'everyone', required: 'any', enrollment_grace: 'a week' },
          { id: 'everyone', match: { metadata_admin: { role: 'admin' } }, remember_device: 'forever' },
          { id: 'x', match: { roles: 'admin' } as never, requierd: 'any' } as never,
        ],
      }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'selfservice.mfa.policies[0] (everyone): enrollment_grace: "a week" is not a positive duration like 168h or 7d',
        expect.stringMatching(/^selfservice\.mfa\.policies\[1\] \(everyone\): id: "everyone" is used by an earlier rule/),
        expect.stringMatching(/^selfservice\.mfa\.policies\[1\] \(everyone\): is never reached: rule "everyone" before it matches every identity/),
        expect.stringMatching(/^selfservice\.mfa\.policies\[1\] \(everyone\): remember_device: must be off or a positive duration/),
        expect.stringMatching(/^selfservice\.mfa\.policies\[2\] \(x\): match\.roles: unknown condition/),
        expect.stringMatching(/^selfservice\.mfa\.policies\[2\] \(x\): requierd: unknown key/),
      ]),
    );
  });

  it('a passkey cannot be required; TOTP without recovery codes needs require_recovery_codes off', () => {
    expect(problemsOf(() => compile({ policies: [{ id: 'keys', required: ['passkey'] }] }))).toEqual([expect.stringMatching(/\(keys\): required: passkey is a first factor/)]);
    const codes = problemsOf(() => compile({ policies: [{ id: 'keys', required: ['webauthn'], allowed_methods: ['webauthn', 'passkey'] }] }));
    expect(codes).toEqual([expect.stringMatching(/\(keys\): allowed_methods: webauthn come with recovery codes at enrollment/)]);
    expect(problemsOf(() => compile({ policies: [{ id: 'keys', required: ['webauthn'], allowed_methods: ['webauthn', 'passkey'] }] }, ALL, false))).toEqual([]);
  });

  it('with webauthn passwordless on, a security key is a first factor and a rule cannot require it', () => {
    const problems = problemsOf(() => compilePolicies({ policies: [{ id: 'admins', required: ['webauthn'] }], default_policy: {} } as MfaConfig, { enabled: ALL, recoveryCodesAtEnrollment: false, webauthnPasswordless: true }));
    expect(problems).toEqual([expect.stringMatching(/\(admins\): required: webauthn is a first factor while selfservice\.methods\.webauthn\.config\.passwordless is on/)]);
    expect(problemsOf(() => compilePolicies({ policies: [{ id: 'admins', required: ['webauthn'] }], default_policy: {} } as MfaConfig, { enabled: ALL, recoveryCodesAtEnrollment: false }))).toEqual([]);
  });

  it('codes are named by channel: code means both, and requiring code while forbidding a channel names the problem', () => {
    const problems = problemsOf(() => compile({ policies: [{ id: 'staff', required: ['code'], allowed_methods: ['email', 'totp', 'lookup_secret'] }] }));
    expect(problems).toEqual(['selfservice.mfa.policies[0] (staff): required: "code" includes sms codes, which allowed_methods forbids (name the allowed channel instead: email)']);
    // Without an SMS channel, `code` is email codes only, and naming sms is a configuration error.
    const emailOnly = new Set<PolicyMethod>(['totp', 'lookup_secret', 'email']);
    expect(compile({ policies: [{ id: 'staff', required: ['code'], allowed_methods: ['code', 'totp', 'lookup_secret'] }] }, emailOnly).rules[0]).toMatchObject({ required: ['email'], allowedMethods: ['email', 'totp', 'lookup_secret'] });
    expect(problemsOf(() => compile({ policies: [{ id: 'staff', allowed_methods: ['sms'] }] }, emailOnly))).toEqual([
      'selfservice.mfa.policies[0] (staff): allowed_methods: method "sms" is not enabled (selfservice.methods.code.mfa_enabled and a courier.channels entry with id sms)',
    ]);
  });

  it('the default rule is checked too and cannot match', () => {
    expect(problemsOf(() => compile({ default_policy: { required: 'some', match: {} } as never }))).toEqual([
      expect.stringMatching(/^selfservice\.mfa\.default_policy: match:/),
      expect.stringMatching(/^selfservice\.mfa\.default_policy \(default\): required: must be none, any, or a list/),
    ]);
  });
});

describe('MFA policy rules: codes by channel', () => {
  const methods = (mfa: boolean) => ({ totp: { enabled: true }, lookup_secret: { enabled: true }, webauthn: { enabled: false }, passkey: { enabled: false }, code: { mfa_enabled: mfa } });

  it('email codes are enabled by code.mfa_enabled; SMS codes also need the courier\'s sms channel', () => {
    expect([...enabledPolicyMethods(methods(true), [])]).toEqual(['totp', 'lookup_secret', 'email']);
    expect([...enabledPolicyMethods(methods(true), [{ id: 'sms' }])]).toEqual(['totp', 'lookup_secret', 'email', 'sms']);
    expect([...enabledPolicyMethods(methods(false), [{ id: 'sms' }])]).toEqual(['totp', 'lookup_secret']);
  });

  it('a completed code counts by the channel it went by; one recorded without its channel only where both are allowed', () => {
    const noSms = ['totp', 'email'];
    expect(methodAllowed(noSms, policyMethodOf({ method: 'code', channel: 'email' }), 'all')).toBe(true);
    expect(methodAllowed(noSms, policyMethodOf({ method: 'code', channel: 'sms' }), 'all')).toBe(false);
    expect(methodAllowed(noSms, policyMethodOf({ method: 'code' }), 'all')).toBe(false);
    expect(methodAllowed(['email', 'sms'], policyMethodOf({ method: 'code' }), 'all')).toBe(true);
    // Offering: the code method is offered while one channel is allowed; the first factor is never the policy's.
    expect(methodAllowed(noSms, 'code', 'any')).toBe(true);
    expect(methodAllowed(['totp'], 'code', 'any')).toBe(false);
    expect(methodAllowed(['totp'], 'password')).toBe(true);
  });

  it('a rule that requires email codes is not satisfied by a verified phone number (sms), and the reverse', () => {
    const p = compile({ policies: [{ id: 'text', match: { metadata_admin: { text: true } }, required: ['sms'] }, { id: 'mail', required: ['email'], allowed_methods: ['email', 'sms'] }] });
    const mail = resolvePolicy(identity(), p, clock);
    expect(mail.acceptedMethods).toEqual(['email']);
    expect(policyStatus(mail, ['sms'], null).status).toBe('overdue');
    expect(policyStatus(mail, ['email'], null).status).toBe('enrolled');
    const text = resolvePolicy(identity({ metadataAdmin: { text: true } }), p, clock);
    expect(text.acceptedMethods).toEqual(['sms']);
    expect(policyStatus(text, ['email', 'totp'], null).status).toBe('overdue');
    expect(policyStatus(text, ['sms'], null).status).toBe('enrolled');
  });
});

describe('MFA policy: the published vocabulary', () => {
  it('every policy audit event is in the closed list of audit events', () => {
    for (const type of POLICY_AUDIT_EVENTS) expect(AUDIT_EVENT_TYPES).toContain(type);
    expect(AUDIT_EVENT_TYPES.filter((t) => t.startsWith('mfa_policy.'))).toEqual([...POLICY_AUDIT_EVENTS]);
    expect(new Set(LOGIN_DECISIONS).size).toBe(6);
  });
});
