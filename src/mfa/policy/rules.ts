/**
 * MFA policy by role: which rule applies to an identity, and what it requires and allows.
 *
 * Configured under `selfservice.mfa` (README "MFA policy by role"): `policies` is a list of rules, the first rule
 * whose `match` holds wins, and `default_policy` applies to everyone no rule matches. A rule says
 * - `required`: `none`, `any` (any second factor the rule allows), or a list of methods (one of them);
 * - `allowed_methods`: the second factors (and passkeys) the identity may enroll and use; a method not listed cannot
 *   be enrolled, is not offered at sign-in, and does not count toward the session's AAL. Codes are named by channel,
 *   `email` and `sms` (`code` names both), so a rule can forbid SMS alone;
 * - `enrollment_grace`: how long an identity that must enroll may still sign in without a second factor, as a
 *   duration from when the rule first applied to it (`168h`, `7d`), a number of sign-ins (`{logins: 5}`), or both
 *   (whichever ends first); none means enrollment is enforced at once;
 * - `remember_device`: `off`, or how long a browser that completed the second factor may skip it.
 *
 * Everything here is pure: `compilePolicies` validates the configuration (each problem names the rule),
 * `resolvePolicy` picks an identity's rule, `policyStatus` says whether the identity is enrolled, in its grace period
 * or overdue. The server's enforcement (mfa/policy/enforcer.ts) and the friction report build on these.
 */
import type { Identity } from '../../identity/identity.js';
import type { Clock } from '../../support/clock.js';

/**
 * The methods a rule governs. `password` is the first factor and is governed by `selfservice.methods.password`.
 * Kratos's `code` method (`mfa_enabled`) is two factors of very different strength, so the policy names its channels:
 * `email` (a code by email) and `sms` (a code by text message: SIM swap, SS7, no phishing resistance). The wire format
 * is Kratos's either way (`authentication_methods[].method` is `code`); Kairos records the channel beside it.
 */
export const POLICY_METHODS = ['totp', 'lookup_secret', 'webauthn', 'passkey', 'email', 'sms'] as const;
export type PolicyMethod = (typeof POLICY_METHODS)[number];

/** The code method's channels, as rules name them. */
export const CODE_CHANNELS = ['email', 'sms'] as const satisfies readonly PolicyMethod[];
/** What a rule may write for "both channels" (Kratos's method name); compiled into the enabled channels. */
export const CODE_METHOD = 'code';
/** Every name a rule may write in `allowed_methods` and `required`. */
export const POLICY_METHOD_NAMES: readonly string[] = [...POLICY_METHODS, CODE_METHOD];

/**
 * The methods that complete the second step (aal2). `passkey` is a first factor in Kairos as in Kratos (its sign-in
 * is aal1), so a rule may allow or forbid passkeys, but `required` never names one: having a passkey does not make a
 * session aal2.
 */
export const SECOND_FACTOR_METHODS: readonly PolicyMethod[] = ['totp', 'lookup_secret', 'webauthn', 'email', 'sms'];

/**
 * The policy's name for a completed method (an AMR entry) or an offered one: a code by its channel, anything else by
 * its method. A code recorded without its channel stays `code` (see `methodAllowed`).
 */
export function policyMethodOf(entry: { method: string; channel?: string | null }): string {
  if (entry.method === CODE_METHOD && (entry.channel === 'email' || entry.channel === 'sms')) return entry.channel;
  return entry.method;
}

/**
 * Whether a list of allowed methods (a compiled rule's) allows a method by its policy name. Methods the policy does
 * not govern (password, a remembered device) are allowed. `code` asks about the code method as a whole: with `use:
 * 'any'` (is the method offered at all?) one allowed channel is enough; with `use: 'all'` (does a code of unknown
 * channel count?) both must be, so a code whose channel is unknown never counts where SMS is forbidden (fail closed).
 */
export function methodAllowed(allowed: readonly string[], method: string, use: 'any' | 'all' = 'any'): boolean {
  if (method === CODE_METHOD) return use === 'any' ? CODE_CHANNELS.some((c) => allowed.includes(c)) : CODE_CHANNELS.every((c) => allowed.includes(c));
  if (!(POLICY_METHODS as readonly string[]).includes(method)) return true;
  return allowed.includes(method);
}

/** A value a `match` condition accepts: one scalar, or a list of scalars (any of them). */
type Scalar = string | number | boolean;

/** One rule as written in the configuration. */
export interface MfaPolicyRuleConfig {
  id: string;
  /** Every listed condition must hold. No `match` (or an empty one) matches every identity. */
  match?: {
    schema_id?: string | string[];
    traits?: Record<string, Scalar | Scalar[]>;
    metadata_public?: Record<string, Scalar | Scalar[]>;
    metadata_admin?: Record<string, Scalar | Scalar[]>;
  };
  required?: 'none' | 'any' | string[];
  allowed_methods?: string[];
  enrollment_grace?: string | number | { duration?: string; logins?: number };
  remember_device?: string | false;
}

/** `selfservice.mfa` as written in the configuration. */
export interface MfaConfig {
  policies: MfaPolicyRuleConfig[];
  default_policy: Omit<MfaPolicyRuleConfig, 'match' | 'id'> & { id?: string };
}

/** The methods enabled in `selfservice.methods` (a rule may name only those). */
export type EnabledMethods = ReadonlySet<string>;

/** One condition of a rule, compiled: `source.path` must equal one of `values`. */
export interface MatchCondition {
  source: 'schema_id' | 'traits' | 'metadata_public' | 'metadata_admin';
  /** Dotted path below the source (`role`, `org.department`); empty for `schema_id`. */
  path: string[];
  values: Scalar[];
}

/** A validated rule. */
export interface PolicyRule {
  id: string;
  /** Position in `selfservice.mfa.policies`; -1 for the default rule. */
  index: number;
  conditions: MatchCondition[];
  required: 'none' | 'any' | readonly PolicyMethod[];
  allowedMethods: readonly PolicyMethod[];
  /** Null: no grace, enrollment is enforced as soon as the rule applies. */
  grace: { durationMs: number | null; logins: number | null } | null;
  /** Null: remembered devices are off under this rule. */
  rememberDeviceMs: number | null;
}

/** The compiled `selfservice.mfa`: rules in order, then the default. */
export interface MfaPolicies {
  rules: readonly PolicyRule[];
  defaultRule: PolicyRule;
  /** True when no rule requires, forbids or remembers anything: the server then behaves exactly as without policies. */
  inert: boolean;
}

/** The rule in force for one identity (`resolvePolicy`). */
export interface ResolvedPolicy {
  ruleId: string;
  /** Position of the rule in `selfservice.mfa.policies`; -1 for the default rule. */
  ruleIndex: number;
  isDefault: boolean;
  /** Why it matched, for people: `metadata_admin.role = "admin"`; empty for the default rule or a catch-all. */
  matchedBy: string[];
  required: 'none' | 'any' | readonly PolicyMethod[];
  /** Whether the identity must have a second factor. */
  requiresSecondFactor: boolean;
  /** The second factors that satisfy `required` (aal2 methods, all allowed). Empty when nothing is required. */
  acceptedMethods: readonly PolicyMethod[];
  allowedMethods: readonly PolicyMethod[];
  grace: { durationMs: number | null; logins: number | null } | null;
  rememberDeviceMs: number | null;
  /** When the rule was resolved (the clock's now): a grace deadline is computed against it. */
  resolvedAtMs: number;
}

/** What the server keeps per identity and rule (table `mfa_policy_states`). */
export interface PolicyState {
  ruleId: string;
  /** When the rule first applied to the identity (its first sign-in or session use under the rule). */
  firstAppliedAtMs: number;
  /** First-factor sign-ins under this rule since it first applied (the one on which it applied included). */
  loginCount: number;
}

export type PolicyStatusName = 'not_required' | 'enrolled' | 'grace' | 'overdue';

export interface PolicyStatus {
  status: PolicyStatusName;
  /** The end of the grace period by time, when the rule has one and it started. */
  graceDeadlineMs: number | null;
  /** Sign-ins left before enrollment is enforced, when the grace counts sign-ins. */
  loginsLeft: number | null;
}

/** An invalid `selfservice.mfa`: every problem, each naming the rule (`selfservice.mfa.policies[1] (admins): …`). */
export class PolicyConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid MFA policies:\n  - ${problems.join('\n  - ')}`);
    this.name = 'PolicyConfigError';
  }
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Go durations as Kratos writes them (`168h`, `90m`, `1h30m`) plus whole days (`7d`, `1d12h`): grace periods and
 * remembered devices run for days. (config/duration.ts reads the Go forms for the other keys; this module does not
 * import config/, which validates rules with it at load.)
 */
export function parsePolicyDurationMs(text: string): number {
  const trimmed = text.trim();
  if (!/^(\d+d)?(\d+(\.\d+)?(ms|s|m|h))*$/.test(trimmed) || trimmed === '') throw new TypeError(`"${text}" is not a duration like 168h or 7d`);
  let total = 0;
  for (const [, amount, , unit] of trimmed.matchAll(/(\d+(\.\d+)?)(ms|s|m|h|d)/g)) total += Number(amount) * UNIT_MS[unit!]!;
  return total;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: unknown): v is Scalar => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const DEFAULT_RULE_ID = 'default';

/**
 * The methods a rule may name under this configuration, and what enables each. Codes by SMS need, besides
 * `code.mfa_enabled`, the courier's `sms` channel (without one, phone numbers are neither offered nor counted).
 */
export function enabledPolicyMethods(
  methods: {
    totp: { enabled: boolean };
    lookup_secret: { enabled: boolean };
    webauthn: { enabled: boolean };
    passkey: { enabled: boolean };
    code: { mfa_enabled: boolean };
  },
  courierChannels: readonly { id: string }[],
): Set<PolicyMethod> {
  const enabled = new Set<PolicyMethod>();
  if (methods.totp.enabled) enabled.add('totp');
  if (methods.lookup_secret.enabled) enabled.add('lookup_secret');
  if (methods.webauthn.enabled) enabled.add('webauthn');
  if (methods.passkey.enabled) enabled.add('passkey');
  if (methods.code.mfa_enabled) enabled.add('email');
  if (methods.code.mfa_enabled && courierChannels.some((c) => c.id === 'sms')) enabled.add('sms');
  return enabled;
}

const ENABLING_KEY: Record<PolicyMethod | typeof CODE_METHOD, string> = {
  totp: 'selfservice.methods.totp.enabled',
  lookup_secret: 'selfservice.methods.lookup_secret.enabled',
  webauthn: 'selfservice.methods.webauthn.enabled',
  passkey: 'selfservice.methods.passkey.enabled',
  email: 'selfservice.methods.code.mfa_enabled',
  sms: 'selfservice.methods.code.mfa_enabled and a courier.channels entry with id sms',
  code: 'selfservice.methods.code.mfa_enabled',
};

export interface CompileOptions {
  /** The methods enabled in `selfservice.methods`. */
  enabled: ReadonlySet<PolicyMethod>;
  /** `selfservice.methods.totp.config.require_recovery_codes`: the first second factor comes with recovery codes. */
  recoveryCodesAtEnrollment: boolean;
  /** `selfservice.methods.webauthn.config.passwordless`: security keys then sign in as a first factor (aal1, as in Kratos). */
  webauthnPasswordless?: boolean;
}

/**
 * Validates and compiles `selfservice.mfa`. Throws PolicyConfigError listing every problem, each naming the rule
 * (its position and id) and the key: an unknown method, a method that is not enabled, a required method the rule
 * does not allow, a rule no identity can reach (after a catch-all), two rules with one id, a malformed duration…
 */
export function compilePolicies(config: MfaConfig | undefined, options: CompileOptions): MfaPolicies {
  const problems: string[] = [];
  const list = config?.policies ?? [];
  const rules: PolicyRule[] = [];
  const seen = new Set<string>();
  let catchAll: string | null = null;
  if (!Array.isArray(list)) throw new PolicyConfigError(['selfservice.mfa.policies: must be a list of rules']);
  list.forEach((raw, index) => {
    const id = isObject(raw) && typeof raw.id === 'string' ? raw.id : null;
    const where = `selfservice.mfa.policies[${index}]${id ? ` (${id})` : ''}`;
    if (!isObject(raw)) {
      problems.push(`${where}: must be a mapping with id, match, required, …`);
      return;
    }
    if (!id) problems.push(`${where}: id: is required (a name for the rule, e.g. "admins")`);
    else if (!RULE_ID.test(id)) problems.push(`${where}: id: "${id}" must be 1–64 letters, digits, ".", "_" or "-"`);
    else if (id === DEFAULT_RULE_ID) problems.push(`${where}: id: "${DEFAULT_RULE_ID}" is the default rule's id (use selfservice.mfa.default_policy)`);
    else if (seen.has(id)) problems.push(`${where}: id: "${id}" is used by an earlier rule (ids name rules in reports and must be unique)`);
    if (id) seen.add(id);
    if (catchAll !== null) problems.push(`${where}: is never reached: rule "${catchAll}" before it matches every identity (first match wins)`);
    const conditions = compileMatch(raw.match, where, problems);
    if (conditions.length === 0 && catchAll === null) catchAll = id ?? `#${index}`;
    const rule = compileRule(raw, id ?? `#${index}`, index, where, options, problems, conditions);
    if (rule) rules.push(rule);
  });
  const rawDefault = config?.default_policy ?? {};
  let defaultRule: PolicyRule | null = null;
  if (!isObject(rawDefault)) problems.push('selfservice.mfa.default_policy: must be a mapping');
  else {
    if ((rawDefault as Record<string, unknown>).match !== undefined) problems.push('selfservice.mfa.default_policy: match: the default rule applies to every identity no rule matches; it has no match');
    const id = typeof rawDefault.id === 'string' ? rawDefault.id : DEFAULT_RULE_ID;
    if (!RULE_ID.test(id)) problems.push(`selfservice.mfa.default_policy: id: "${id}" must be 1–64 letters, digits, ".", "_" or "-"`);
    else if (seen.has(id)) problems.push(`selfservice.mfa.default_policy: id: "${id}" is also the id of a rule in selfservice.mfa.policies`);
    defaultRule = compileRule(rawDefault, id, -1, `selfservice.mfa.default_policy (${id})`, options, problems, []);
  }
  if (problems.length > 0) throw new PolicyConfigError(problems);
  const all = [...rules, defaultRule!];
  const everyMethod = (r: PolicyRule) => [...options.enabled].every((m) => r.allowedMethods.includes(m));
  return {
    rules,
    defaultRule: defaultRule!,
    inert: all.every((r) => r.required === 'none' && r.rememberDeviceMs === null && everyMethod(r)),
  };
}

function compileMatch(raw: unknown, where: string, problems: string[]): MatchCondition[] {
  if (raw === undefined || raw === null) return [];
  if (!isObject(raw)) {
    problems.push(`${where}: match: must be a mapping of schema_id, traits, metadata_public, metadata_admin`);
    return [];
  }
  const conditions: MatchCondition[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'schema_id') {
      const values = Array.isArray(value) ? value : [value];
      if (values.length === 0 || !values.every((v) => typeof v === 'string' && v !== '')) {
        problems.push(`${where}: match.schema_id: must be a schema id or a list of them`);
        continue;
      }
      conditions.push({ source: 'schema_id', path: [], values: values as string[] });
      continue;
    }
    if (key !== 'traits' && key !== 'metadata_public' && key !== 'metadata_admin') {
      problems.push(`${where}: match.${key}: unknown condition (use schema_id, traits, metadata_public or metadata_admin)`);
      continue;
    }
    if (!isObject(value) || Object.keys(value).length === 0) {
      problems.push(`${where}: match.${key}: must map a field (dotted path, e.g. role or org.unit) to a value or a list of values`);
      continue;
    }
    for (const [path, expected] of Object.entries(value)) {
      const segments = path.split('.');
      if (segments.some((s) => s === '')) {
        problems.push(`${where}: match.${key}.${path}: is not a field path`);
        continue;
      }
      const values = Array.isArray(expected) ? expected : [expected];
      if (values.length === 0 || !values.every(isScalar)) {
        problems.push(`${where}: match.${key}.${path}: must be a string, number or boolean, or a list of them`);
        continue;
      }
      conditions.push({ source: key, path: segments, values });
    }
  }
  return conditions;
}

function compileRule(
  raw: Record<string, unknown>,
  id: string,
  index: number,
  where: string,
  options: CompileOptions,
  problems: string[],
  conditions: MatchCondition[],
): PolicyRule | null {
  const before = problems.length;
  const known = new Set(['id', 'match', 'required', 'allowed_methods', 'enrollment_grace', 'remember_device']);
  for (const key of Object.keys(raw)) if (!known.has(key)) problems.push(`${where}: ${key}: unknown key (a rule has id, match, required, allowed_methods, enrollment_grace, remember_device)`);

  const knownNames = POLICY_METHOD_NAMES.join(', ');
  /** The listed methods, `code` compiled into its enabled channels (`codeAsWritten` remembers where it stood). */
  const codeAsWritten = new Set<string>();
  const methodList = (key: string, value: unknown): PolicyMethod[] | null => {
    if (!Array.isArray(value) || !value.every((m) => typeof m === 'string')) {
      problems.push(`${where}: ${key}: must be a list of methods (${knownNames})`);
      return null;
    }
    const out: PolicyMethod[] = [];
    const add = (m: PolicyMethod) => {
      if (!out.includes(m)) out.push(m);
    };
    for (const m of value as string[]) {
      if (m === 'password') problems.push(`${where}: ${key}: password is the first factor; a rule names second factors and passkeys (${knownNames})`);
      else if (m === CODE_METHOD) {
        const channels = CODE_CHANNELS.filter((c) => options.enabled.has(c));
        if (channels.length === 0) problems.push(`${where}: ${key}: method "code" is not enabled (${ENABLING_KEY.code})`);
        channels.forEach(add);
        codeAsWritten.add(key);
      } else if (!(POLICY_METHODS as readonly string[]).includes(m)) {
        const hint = m === 'code_sms' || m === 'sms_code' ? ' (codes by text message are "sms")' : m === 'code_email' || m === 'email_code' ? ' (codes by email are "email")' : '';
        problems.push(`${where}: ${key}: unknown method "${m}"${hint} (known: ${knownNames})`);
      } else if (!options.enabled.has(m as PolicyMethod)) problems.push(`${where}: ${key}: method "${m}" is not enabled (${ENABLING_KEY[m as PolicyMethod]})`);
      else add(m as PolicyMethod);
    }
    return out;
  };

  const allowed = raw.allowed_methods === undefined ? [...options.enabled] : methodList('allowed_methods', raw.allowed_methods);
  let required: PolicyRule['required'] = 'none';
  const r = raw.required;
  if (r === undefined || r === 'none' || r === false) required = 'none';
  else if (r === 'any' || r === true) required = 'any';
  else if (Array.isArray(r)) {
    const list = methodList('required', r);
    if (list && list.length === 0) problems.push(`${where}: required: an empty list requires nothing (write none)`);
    for (const m of list ?? []) {
      if (m === 'passkey') problems.push(`${where}: required: passkey is a first factor (its sign-in is aal1, as in Kratos) and cannot be required as a second factor; require webauthn for security keys and allow passkey`);
      else if (m === 'webauthn' && options.webauthnPasswordless) problems.push(`${where}: required: webauthn is a first factor while selfservice.methods.webauthn.config.passwordless is on (a key's sign-in is aal1, as in Kratos) and cannot be required as a second factor`);
      else if (allowed && !allowed.includes(m)) {
        problems.push(
          codeAsWritten.has('required') && (CODE_CHANNELS as readonly string[]).includes(m)
            ? `${where}: required: "code" includes ${m} codes, which allowed_methods forbids (name the allowed channel instead: ${CODE_CHANNELS.filter((c) => allowed.includes(c)).join(', ') || 'none is allowed'})`
            : `${where}: required: "${m}" is not in allowed_methods (a rule cannot require a method it forbids)`,
        );
      }
    }
    if (list) required = list;
  } else problems.push(`${where}: required: must be none, any, or a list of methods`);

  if (allowed && required !== 'none') {
    const secondFactors = allowed.filter((m) => SECOND_FACTOR_METHODS.includes(m));
    if (secondFactors.length === 0) problems.push(`${where}: required: ${Array.isArray(required) ? required.join(', ') : required} needs a second factor in allowed_methods (${SECOND_FACTOR_METHODS.join(', ')})`);
  }
  if (allowed && options.recoveryCodesAtEnrollment && !allowed.includes('lookup_secret')) {
    const needsCodes = allowed.filter((m) => m === 'totp' || m === 'webauthn');
    if (needsCodes.length > 0) {
      problems.push(
        `${where}: allowed_methods: ${needsCodes.join(' and ')} come with recovery codes at enrollment (selfservice.methods.totp.config.require_recovery_codes), so the rule must allow lookup_secret too, or set require_recovery_codes: false`,
      );
    }
  }

  let grace: PolicyRule['grace'] = null;
  const g = raw.enrollment_grace;
  if (g !== undefined && g !== null && g !== false && g !== 'none') {
    let durationText: unknown;
    let logins: unknown;
    if (typeof g === 'string') durationText = g;
    else if (typeof g === 'number') logins = g;
    else if (isObject(g)) {
      durationText = g.duration;
      logins = g.logins;
      for (const key of Object.keys(g)) if (key !== 'duration' && key !== 'logins') problems.push(`${where}: enrollment_grace.${key}: unknown key (duration, logins)`);
    } else problems.push(`${where}: enrollment_grace: must be a duration (168h, 7d), a number of sign-ins, or {duration, logins}`);
    let durationMs: number | null = null;
    if (durationText !== undefined) {
      try {
        if (typeof durationText !== 'string') throw new TypeError('not a string');
        durationMs = parsePolicyDurationMs(durationText);
        if (durationMs <= 0) throw new TypeError('zero');
      } catch {
        problems.push(`${where}: enrollment_grace: "${String(durationText)}" is not a positive duration like 168h or 7d`);
      }
    }
    let loginCount: number | null = null;
    if (logins !== undefined) {
      if (typeof logins !== 'number' || !Number.isInteger(logins) || logins < 1 || logins > 10_000) problems.push(`${where}: enrollment_grace.logins: must be a whole number of sign-ins from 1 to 10000`);
      else loginCount = logins;
    }
    if (durationMs !== null || loginCount !== null) grace = { durationMs, logins: loginCount };
    if (required === 'none' && (durationText !== undefined || logins !== undefined)) problems.push(`${where}: enrollment_grace: the rule requires nothing, so there is no enrollment to give time for`);
  }

  let rememberDeviceMs: number | null = null;
  const d = raw.remember_device;
  if (d !== undefined && d !== null && d !== false && d !== 'off') {
    try {
      if (typeof d !== 'string') throw new TypeError('not a string');
      rememberDeviceMs = parsePolicyDurationMs(d);
      if (rememberDeviceMs <= 0) throw new TypeError('zero');
    } catch {
      problems.push(`${where}: remember_device: must be off or a positive duration like 720h or 30d`);
    }
  }

  if (problems.length > before || !allowed) return null;
  return { id, index, conditions, required, allowedMethods: allowed, grace, rememberDeviceMs };
}

/** The value at a dotted path below an object, or undefined. */
function valueAt(root: unknown, path: readonly string[]): unknown {
  let value = root;
  for (const segment of path) {
    if (!isObject(value)) return undefined;
    value = value[segment];
  }
  return value;
}

function sourceOf(identity: IdentityFacts, source: MatchCondition['source']): unknown {
  if (source === 'schema_id') return identity.schemaId;
  if (source === 'traits') return identity.traits;
  if (source === 'metadata_public') return identity.metadataPublic;
  return identity.metadataAdmin;
}

/**
 * Does the identity's value satisfy the condition? Scalars compare exactly (no type coercion: `"1"` is not `1`); an
 * identity value that is a list (`roles: [admin, dev]`) matches when any element is one of the accepted values.
 */
export function conditionHolds(identity: IdentityFacts, condition: MatchCondition): boolean {
  const actual = condition.source === 'schema_id' ? identity.schemaId : valueAt(sourceOf(identity, condition.source), condition.path);
  const candidates = Array.isArray(actual) ? actual : [actual];
  return candidates.some((v) => isScalar(v) && condition.values.includes(v));
}

export function describeCondition(condition: MatchCondition): string {
  const key = condition.source === 'schema_id' ? 'schema_id' : `${condition.source}.${condition.path.join('.')}`;
  const values = condition.values.map((v) => JSON.stringify(v));
  return values.length === 1 ? `${key} = ${values[0]}` : `${key} in [${values.join(', ')}]`;
}

/** What matching reads of an identity (so callers may pass a row, not a full Identity). */
export type IdentityFacts = Pick<Identity, 'schemaId' | 'traits' | 'metadataPublic' | 'metadataAdmin'>;

/** Each rule in order with the outcome of each of its conditions (for `kairos policy explain`). */
export function explainMatch(identity: IdentityFacts, policies: MfaPolicies): { ruleId: string; matched: boolean; conditions: { condition: string; holds: boolean }[] }[] {
  return policies.rules.map((rule) => {
    const conditions = rule.conditions.map((c) => ({ condition: describeCondition(c), holds: conditionHolds(identity, c) }));
    return { ruleId: rule.id, matched: conditions.every((c) => c.holds), conditions };
  });
}

/**
 * The rule in force for an identity: the first rule of `selfservice.mfa.policies` whose conditions all hold, else
 * the default rule. Pure and cheap (no I/O): call it at every request, so a changed role or metadata applies at the
 * identity's next request. `clock` stamps the resolution (`resolvedAtMs`), against which `policyStatus` computes a
 * grace deadline.
 *
 * @example
 * const rule = resolvePolicy(identity, policies, clock);
 * rule.ruleId;               // "admins"
 * rule.requiresSecondFactor; // true
 * rule.allowedMethods;       // ["webauthn", "passkey", "lookup_secret"]
 */
export function resolvePolicy(identity: IdentityFacts, policies: MfaPolicies, clock: Clock): ResolvedPolicy {
  const rule = policies.rules.find((r) => r.conditions.every((c) => conditionHolds(identity, c))) ?? policies.defaultRule;
  const accepted: PolicyMethod[] =
    rule.required === 'none' ? [] : rule.required === 'any' ? rule.allowedMethods.filter((m) => SECOND_FACTOR_METHODS.includes(m)) : [...rule.required];
  return {
    ruleId: rule.id,
    ruleIndex: rule.index,
    isDefault: rule.index === -1,
    matchedBy: rule.conditions.map(describeCondition),
    required: rule.required,
    requiresSecondFactor: rule.required !== 'none',
    acceptedMethods: accepted,
    allowedMethods: rule.allowedMethods,
    grace: rule.grace,
    rememberDeviceMs: rule.rememberDeviceMs,
    resolvedAtMs: clock.nowMs(),
  };
}

/**
 * Where an identity stands under its rule: `not_required`; `enrolled` (it has one of the accepted second factors);
 * `grace` (not enrolled, still inside the grace period, or the rule never applied to it yet so its grace has not
 * started); `overdue` (not enrolled and the grace period is over, or the rule has none).
 *
 * `enrolledMethods` are the second factors the identity has by their policy names (credential types, and `email` or
 * `sms` for a verified code address of that channel); `state` is the stored first application of the rule (null if
 * it never applied).
 */
export function policyStatus(policy: ResolvedPolicy, enrolledMethods: readonly string[], state: PolicyState | null): PolicyStatus {
  if (!policy.requiresSecondFactor) return { status: 'not_required', graceDeadlineMs: null, loginsLeft: null };
  if (enrolledMethods.some((m) => (policy.acceptedMethods as readonly string[]).includes(m))) return { status: 'enrolled', graceDeadlineMs: null, loginsLeft: null };
  const grace = policy.grace;
  if (!grace) return { status: 'overdue', graceDeadlineMs: null, loginsLeft: null };
  const started = state !== null && state.ruleId === policy.ruleId;
  const deadline = grace.durationMs !== null && started ? state.firstAppliedAtMs + grace.durationMs : null;
  const loginsLeft = grace.logins !== null ? Math.max(0, grace.logins - (started ? state.loginCount : 0)) : null;
  const timeOver = deadline !== null && policy.resolvedAtMs >= deadline;
  // The sign-in that used the last allowed one is itself inside the grace: login_count counts it already, so the
  // grace is over only once more sign-ins happened than allowed.
  const loginsOver = grace.logins !== null && started && state.loginCount > grace.logins;
  return { status: timeOver || loginsOver ? 'overdue' : 'grace', graceDeadlineMs: deadline, loginsLeft };
}

/** The rule's settings as JSON (admin API, CLI, reports): snake_case, durations in Go style, never anything secret. */
export function policyJson(policy: ResolvedPolicy): Record<string, unknown> {
  return {
    rule_id: policy.ruleId,
    default: policy.isDefault,
    matched_by: policy.matchedBy,
    required: Array.isArray(policy.required) ? [...policy.required] : policy.required,
    allowed_methods: [...policy.allowedMethods],
    enrollment_grace: policy.grace ? { duration_seconds: policy.grace.durationMs === null ? null : policy.grace.durationMs / 1000, logins: policy.grace.logins } : null,
    remember_device_seconds: policy.rememberDeviceMs === null ? null : policy.rememberDeviceMs / 1000,
  };
}
