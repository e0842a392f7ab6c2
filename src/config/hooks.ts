/**
 * Kratos's self-service hooks in the config (`selfservice.flows.<flow>.before.hooks`, `….after.hooks`,
 * `….after.<method>.hooks`): the JSON Schema that validates them exactly where Kratos's config schema allows each
 * hook, and which of them Kairos runs (hooks/configure.ts puts them into the flows' registry). A hook Kairos cannot
 * run yet is refused at startup, naming its key — never accepted and skipped.
 */

/** Every hook name Kratos's config schema knows. */
export type HookName =
  | 'session'
  | 'show_verification_ui'
  | 'require_verified_address'
  | 'revoke_active_sessions'
  | 'verification'
  | 'web_hook'
  | 'b2b_sso'
  | 'organization'
  | 'verify_new_address'
  | 'notify_previous_addresses';

/** The web hook's config has one definition, beside the loader's checks of it. */
export type { WebHookConfig } from './web-hook.js';

export interface HookConfig {
  hook: HookName;
  config?: Record<string, unknown>;
}

export interface HookList {
  hooks?: HookConfig[];
  default_browser_return_url?: string;
}

const named = (name: HookName) => ({ type: 'object', required: ['hook'], additionalProperties: false, properties: { hook: { const: name } } });
const passThrough = (name: HookName) => ({ type: 'object', required: ['hook'], properties: { hook: { const: name } } });

const webHook = {
  type: 'object',
  required: ['hook', 'config'],
  additionalProperties: false,
  properties: {
    hook: { const: 'web_hook' },
    config: {
      type: 'object',
      required: ['url', 'method'],
      additionalProperties: false,
      properties: {
        id: { type: 'string' },
        url: { type: 'string', minLength: 1 },
        method: { type: 'string', minLength: 1 },
        headers: { type: 'object', additionalProperties: { type: 'string' } },
        body: { type: 'string' },
        can_interrupt: { type: 'boolean', default: false },
        emit_analytics_event: { type: 'boolean', default: true },
        response: {
          type: 'object',
          additionalProperties: false,
          properties: { ignore: { type: 'boolean', default: false }, parse: { type: 'boolean', default: false } },
          // Kratos: a response that is ignored cannot also be parsed.
          not: { required: ['ignore', 'parse'], properties: { ignore: { const: true }, parse: { const: true } } },
        },
        auth: {
          oneOf: [
            {
              type: 'object',
              required: ['type', 'config'],
              additionalProperties: false,
              properties: {
                type: { const: 'api_key' },
                config: {
                  type: 'object',
                  required: ['name', 'value', 'in'],
                  additionalProperties: false,
                  properties: { name: { type: 'string' }, value: { type: 'string' }, in: { enum: ['header', 'cookie'] } },
                },
              },
            },
            {
              type: 'object',
              required: ['type', 'config'],
              additionalProperties: false,
              properties: {
                type: { const: 'basic_auth' },
                config: {
                  type: 'object',
                  required: ['user', 'password'],
                  additionalProperties: false,
                  properties: { user: { type: 'string' }, password: { type: 'string' } },
                },
              },
            },
          ],
        },
      },
    },
  },
};

/**
 * Schemas the config schema defines once (its `definitions`) and references where they recur: the web hook appears
 * in some twenty hook lists, and compiled once it keeps the build-time validator small (src/config/validator.ts).
 */
export const hookDefinitions = { webHook };

/** The hook entries Kratos's config schema allows at one position. */
function hooks(...names: HookName[]) {
  const schemas = names.map((n) => {
    if (n === 'web_hook') return { $ref: '#/definitions/webHook' };
    if (n === 'b2b_sso' || n === 'organization' || n === 'notify_previous_addresses' || n === 'verify_new_address') return passThrough(n);
    return named(n);
  });
  return { type: 'array', items: { anyOf: schemas }, uniqueItems: true };
}

const returnUrl = { type: 'string', minLength: 1 };
const hookList = (...names: HookName[]) => ({ type: 'object', additionalProperties: false, properties: { default_browser_return_url: returnUrl, hooks: hooks(...names) } });
const flowWide: HookName[] = ['web_hook', 'b2b_sso', 'organization'];
const before = { type: 'object', default: {}, additionalProperties: false, properties: { hooks: hooks(...flowWide) } };

const loginMethodHooks: HookName[] = ['revoke_active_sessions', 'require_verified_address', 'web_hook', 'verification', 'show_verification_ui', 'b2b_sso', 'organization'];
const registrationMethodHooks: HookName[] = ['session', 'web_hook', 'show_verification_ui', 'b2b_sso', 'organization'];
const settingsMethodHooks: HookName[] = ['web_hook', 'revoke_active_sessions'];

/** `before`/`after` schemas per flow, as Kratos's config schema defines them (its selfServiceBefore… and selfServiceAfter… definitions). */
export const hookSchemas = {
  login: {
    before,
    after: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        default_browser_return_url: returnUrl,
        hooks: hooks(...loginMethodHooks),
        password: hookList(...loginMethodHooks),
        webauthn: hookList(...loginMethodHooks),
        passkey: hookList(...loginMethodHooks),
        code: hookList(...loginMethodHooks),
        totp: hookList(...loginMethodHooks),
        lookup_secret: hookList(...loginMethodHooks),
        oidc: hookList('revoke_active_sessions', 'web_hook', 'require_verified_address', 'b2b_sso', 'organization'),
      },
    },
  },
  registration: {
    before,
    after: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        default_browser_return_url: returnUrl,
        hooks: hooks(...flowWide),
        password: hookList(...registrationMethodHooks),
        webauthn: hookList(...registrationMethodHooks),
        passkey: hookList(...registrationMethodHooks),
        oidc: hookList(...registrationMethodHooks),
        code: hookList(...registrationMethodHooks),
      },
    },
  },
  settings: {
    before,
    after: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        default_browser_return_url: returnUrl,
        hooks: hooks(...flowWide),
        password: hookList(...settingsMethodHooks),
        totp: hookList(...settingsMethodHooks),
        oidc: hookList(...settingsMethodHooks),
        webauthn: hookList(...settingsMethodHooks),
        passkey: hookList(...settingsMethodHooks),
        lookup_secret: hookList(...settingsMethodHooks),
        profile: hookList('web_hook', 'show_verification_ui', 'b2b_sso', 'organization', 'verify_new_address', 'notify_previous_addresses'),
      },
    },
  },
  recovery: { before, after: { ...hookList('web_hook', 'revoke_active_sessions'), default: {} } },
  verification: { before, after: { ...hookList(...flowWide), default: {} } },
} as const;

export type HookFlow = keyof typeof hookSchemas;

/** One configured hook with the config key that holds it (for messages). */
export interface PlacedHook {
  flow: HookFlow;
  when: 'before' | 'after';
  /** The method whose list holds it, or null for the flow-wide list. */
  method: string | null;
  key: string;
  hook: HookConfig;
}

type FlowHooks = { before: HookList; after: HookList & Record<string, unknown> };

/** Every hook in the (validated) config, in order. */
export function placedHooks(flows: Record<HookFlow, FlowHooks>): PlacedHook[] {
  const out: PlacedHook[] = [];
  for (const flow of Object.keys(hookSchemas) as HookFlow[]) {
    const { before: b, after: a } = flows[flow];
    (b.hooks ?? []).forEach((hook, i) => out.push({ flow, when: 'before', method: null, key: `selfservice.flows.${flow}.before.hooks[${i}]`, hook }));
    (a.hooks ?? []).forEach((hook, i) => out.push({ flow, when: 'after', method: null, key: `selfservice.flows.${flow}.after.hooks[${i}]`, hook }));
    for (const [method, list] of Object.entries(a)) {
      if (method === 'hooks' || method === 'default_browser_return_url' || typeof list !== 'object' || list === null) continue;
      ((list as HookList).hooks ?? []).forEach((hook, i) =>
        out.push({ flow, when: 'after', method, key: `selfservice.flows.${flow}.after.${method}.hooks[${i}]`, hook }),
      );
    }
  }
  return out;
}

/** The hooks Kairos runs (hooks/configure.ts builds their executors); the schema above says where each may appear. */
const RUN: ReadonlySet<HookName> = new Set<HookName>(['session', 'show_verification_ui', 'require_verified_address', 'revoke_active_sessions', 'web_hook']);

/**
 * Every hook Kratos's schema allows is run where it appears, except those refused here at startup, naming their key.
 */
export function hookRefusal(placed: PlacedHook): string | null {
  const { hook } = placed;
  if (RUN.has(hook.hook)) return null;
  const why =
    hook.hook === 'verification'
      ? 'Kairos mails verification codes after registration and settings whenever verification is enabled'
      : hook.hook === 'b2b_sso' || hook.hook === 'organization'
        ? 'organizations and B2B single sign-on are not supported'
        : `the ${hook.hook} hook is not run yet`;
  return `${placed.key} (hook: ${hook.hook}): Kairos does not support it yet (${why}); remove it to start`;
}
