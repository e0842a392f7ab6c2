/**
 * The configuration: Kratos's keys (so a kratos.yml mostly works unchanged) plus Kairos's own keys beside them.
 * This JSON Schema is the reference documentation of every key; `load.ts` validates against it, fills defaults and
 * applies environment overrides (SERVE_PUBLIC_PORT, SELFSERVICE_METHODS_TOTP_ENABLED, …).
 */
import { hookDefinitions, hookSchemas, type HookFlow, type HookList } from './hooks.js';
import type { MfaConfig } from '../mfa/policy/rules.js';

const duration = { type: 'string', pattern: '^(\\d+(\\.\\d+)?(ms|s|m|h))+$' } as const;
const url = { type: 'string', minLength: 1 } as const;
const aal = { type: 'string', enum: ['aal1', 'highest_available'], default: 'highest_available' } as const;
/** Kratos's `rp` block for webauthn and passkey: the relying party id, the name shown by the browser, allowed origins. */
const webauthnRp = {
  type: 'object',
  default: {},
  properties: {
    id: { type: 'string', minLength: 1, description: 'RP ID (a registrable domain; default: the host of serve.public.base_url).' },
    display_name: { type: 'string', minLength: 1, description: 'Shown by the browser (default: ui.brand.name).' },
    origin: { type: 'string', minLength: 1, description: 'Kratos (deprecated): one allowed origin.' },
    origins: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Allowed origins (default: the origin of serve.public.base_url).' },
  },
} as const;
const flow = (kind: HookFlow, extra: Record<string, unknown> = {}, lifespan = '1h') => ({
  type: 'object',
  default: {},
  properties: {
    enabled: { type: 'boolean', default: true },
    ui_url: url,
    lifespan: { ...duration, default: lifespan },
    ...hookSchemas[kind],
    ...extra,
  },
});

/** Kratos's `serve.public.cors` keys and defaults (embedx/config.schema.json). */
const cors = {
  type: 'object',
  default: {},
  description: 'CORS for the public API, with Kratos\'s keys and defaults. Origins may use one wildcard (https://*.example.org).',
  properties: {
    enabled: { type: 'boolean', default: false },
    allowed_origins: { type: 'array', items: { type: 'string', minLength: 1 }, default: ['*'] },
    allowed_methods: { type: 'array', items: { type: 'string' }, default: ['POST', 'GET', 'PUT', 'PATCH', 'DELETE'] },
    allowed_headers: {
      type: 'array',
      items: { type: 'string' },
      default: ['Authorization', 'Content-Type', 'Max-Age', 'X-Session-Token', 'X-XSRF-TOKEN', 'X-CSRF-TOKEN'],
    },
    exposed_headers: { type: 'array', items: { type: 'string' }, default: ['Content-Type'] },
    allow_credentials: { type: 'boolean', default: true },
    options_passthrough: { type: 'boolean', default: false },
    max_age: { type: 'integer', minimum: 0, default: 0, description: 'Seconds a preflight may be cached; 0 sends no Access-Control-Max-Age.' },
    debug: { type: 'boolean', default: false },
  },
} as const;

export const configSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  definitions: { ...hookDefinitions },
  type: 'object',
  required: ['dsn'],
  properties: {
    version: { type: 'string' },
    dsn: { type: 'string', minLength: 1, description: 'sqlite:///path/to/db.sqlite, sqlite://./relative.sqlite, memory, or postgres://…' },
    dev: { type: 'boolean', default: false },
    serve: {
      type: 'object',
      default: {},
      properties: {
        public: {
          type: 'object',
          default: {},
          properties: {
            base_url: url,
            host: { type: 'string', default: '127.0.0.1' },
            port: { type: 'integer', minimum: 0, maximum: 65535, default: 4433 },
            trusted_proxies: {
              type: 'array',
              items: { type: 'string' },
              default: [],
              description: 'Addresses/CIDRs whose X-Forwarded-For is believed. Anyone else\'s is ignored.',
            },
            request_body_limit_bytes: { type: 'integer', minimum: 1024, default: 65536 },
            cors,
            rate_limit: {
              type: 'object',
              default: {},
              properties: {
                enabled: { type: 'boolean', default: true },
                max_per_minute: {
                  type: 'integer',
                  minimum: 1,
                  default: 120,
                  description: 'Requests per client IP per minute to each endpoint that checks a secret (flow submissions, emailed links).',
                },
                identity_max_per_minute: {
                  type: 'integer',
                  minimum: 1,
                  default: 60,
                  description: 'Flow submissions per identity per minute, whatever the IP, when the flow or session names the identity.',
                },
                store: {
                  type: 'string',
                  enum: ['database', 'redis', 'memory'],
                  default: 'database',
                  description:
                    'Where the counters live: `database` (the configured SQLite or PostgreSQL; every instance sharing the database shares the limits), `redis` (`redis_url`), or `memory` (this instance only).',
                },
                redis_url: { type: 'string', description: 'redis://host:port/db for `store: redis`.' },
              },
            },
          },
        },
        admin: {
          type: 'object',
          default: {},
          properties: {
            base_url: url,
            host: { type: 'string', default: '127.0.0.1' },
            port: { type: 'integer', minimum: 0, maximum: 65535, default: 4434 },
            api_keys: {
              type: 'array',
              items: { type: 'string' },
              default: [],
              description: 'sha256:<hex> hashes (or plain keys) of admin API keys; required when host is not loopback.',
            },
          },
        },
      },
    },
    identity: {
      type: 'object',
      default: {},
      properties: {
        default_schema_id: { type: 'string', default: 'default' },
        schemas: {
          type: 'array',
          default: [],
          items: {
            type: 'object',
            required: ['id', 'url'],
            properties: { id: { type: 'string', minLength: 1 }, url: { type: 'string', minLength: 1 } },
          },
        },
        credentials: {
          type: 'object',
          default: {},
          properties: {
            totp: {
              type: 'object',
              default: {},
              properties: { expose_secret_to_admin: { type: 'boolean', default: false } },
            },
          },
        },
      },
    },
    selfservice: {
      type: 'object',
      default: {},
      properties: {
        default_browser_return_url: url,
        allowed_return_urls: { type: 'array', items: { type: 'string' }, default: [] },
        flows: {
          type: 'object',
          default: {},
          properties: {
            login: flow('login'),
            registration: flow('registration'),
            settings: flow('settings', {
              privileged_session_max_age: { ...duration, default: '15m' },
              required_aal: aal,
            }),
            recovery: flow('recovery', {
              use: { type: 'string', enum: ['code'], default: 'code' },
              mfa_reset_delay: { ...duration, default: '72h' },
            }),
            verification: flow('verification', { use: { type: 'string', enum: ['code'], default: 'code' } }),
            error: { type: 'object', default: {}, properties: { ui_url: url } },
            logout: {
              type: 'object',
              default: {},
              properties: {
                after: { type: 'object', default: {}, properties: { default_browser_return_url: url } },
              },
            },
          },
        },
        mfa: {
          type: 'object',
          default: {},
          description:
            'Kairos: MFA policy by role (README "MFA policy by role"; validated by src/mfa/policy/rules.ts, which names the rule in every error). The first rule of `policies` whose `match` holds applies; `default_policy` applies to everyone else.',
          properties: {
            policies: {
              type: 'array',
              default: [],
              description: 'Rules, first match wins.',
              items: {
                type: 'object',
                description:
                  '{id, match: {schema_id, traits, metadata_public, metadata_admin}, required: none | any | [methods], allowed_methods: [methods], enrollment_grace: 168h | 7d | {duration, logins}, remember_device: off | 720h}',
                properties: {
                  id: { type: 'string', description: 'Names the rule in errors, audit events, metrics and reports.' },
                  match: {
                    type: 'object',
                    description: 'Every condition must hold: schema_id (one or a list), and dotted field paths of traits, metadata_public, metadata_admin mapped to a value or a list of values. No match: every identity.',
                  },
                  required: { description: 'none (default), any (any allowed second factor), or a list of methods (one of them).' },
                  allowed_methods: { type: 'array', items: { type: 'string' }, description: 'Second factors and passkeys the identity may enroll and use (default: every enabled one): totp, lookup_secret, webauthn, passkey, email (codes by email), sms (codes by text message), code (both).' },
                  enrollment_grace: { description: 'How long an identity that must enroll may still sign in without: a duration (168h, 7d) from when the rule first applied to it, {logins: n} sign-ins, or both (whichever ends first). None: enforced at once.' },
                  remember_device: { description: 'off (default), or how long a browser that completed the second factor may skip it (720h, 30d).' },
                },
              },
            },
            default_policy: {
              type: 'object',
              default: {},
              description: 'The rule for identities no rule matches (id "default"; required: none, every method allowed, remember_device: off by default).',
            },
          },
        },
        methods: {
          type: 'object',
          default: {},
          properties: {
            profile: { type: 'object', default: {}, properties: { enabled: { type: 'boolean', default: true } } },
            password: {
              type: 'object',
              default: {},
              properties: {
                enabled: { type: 'boolean', default: true },
                config: {
                  type: 'object',
                  default: {},
                  properties: {
                    min_password_length: { type: 'integer', minimum: 6, default: 8 },
                    max_password_length: { type: 'integer', minimum: 16, maximum: 4096, default: 1024 },
                    identifier_similarity_check_enabled: { type: 'boolean', default: true },
                    haveibeenpwned_enabled: { type: 'boolean', default: false },
                  },
                },
              },
            },
            totp: {
              type: 'object',
              default: {},
              properties: {
                enabled: { type: 'boolean', default: false },
                config: {
                  type: 'object',
                  default: {},
                  properties: {
                    issuer: { type: 'string' },
                    algorithm: { type: 'string', enum: ['SHA1', 'SHA256', 'SHA512'], default: 'SHA1' },
                    digits: { type: 'integer', enum: [6, 8], default: 6 },
                    period: { type: 'integer', minimum: 15, maximum: 120, default: 30 },
                    window: { type: 'integer', minimum: 0, maximum: 2, default: 1 },
                    require_recovery_codes: { type: 'boolean' },
                    diagnostics: {
                      type: 'object',
                      default: {},
                      properties: {
                        enabled: { type: 'boolean', default: true },
                        user_hints: { type: 'boolean', default: true },
                        max_skew: { ...duration, default: '10m' },
                        previous_secret_retention: { ...duration, default: '2160h' },
                      },
                    },
                    lockout: {
                      type: 'object',
                      default: {},
                      properties: {
                        free_failures: { type: 'integer', minimum: 1, maximum: 20, default: 5 },
                        base_delay: { ...duration, default: '2s' },
                        max_delay: { ...duration, default: '15m' },
                        max_consecutive_failures: { type: 'integer', minimum: 10, maximum: 100, default: 100 },
                      },
                    },
                  },
                },
              },
            },
            lookup_secret: {
              type: 'object',
              default: {},
              properties: {
                enabled: { type: 'boolean' },
                config: {
                  type: 'object',
                  default: {},
                  properties: { count: { type: 'integer', minimum: 8, maximum: 16, default: 12 } },
                },
              },
            },
            code: {
              type: 'object',
              default: {},
              properties: {
                enabled: { type: 'boolean', default: false },
                mfa_enabled: {
                  type: 'boolean',
                  default: false,
                  description: 'Kratos: a one-time code to a verified address of a `credentials.code.identifier` trait completes aal2.',
                },
                passwordless_enabled: { type: 'boolean', default: false, description: 'Kratos: codes as a first factor (not supported by Kairos; refused when true).' },
                config: { type: 'object', default: {}, properties: { lifespan: { ...duration, default: '15m' } } },
              },
            },
            webauthn: {
              type: 'object',
              default: {},
              properties: {
                enabled: { type: 'boolean', default: false },
                config: {
                  type: 'object',
                  default: {},
                  properties: {
                    passwordless: {
                      type: 'boolean',
                      default: false,
                      description: 'Kratos: security keys as a first factor (sign-up without a password, sign-in with the identifier then the key, aal1); webauthn is then no second factor.',
                    },
                    rp: webauthnRp,
                    attestation: {
                      type: 'string',
                      enum: ['none', 'direct', 'enterprise'],
                      default: 'none',
                      description: 'Kairos: the attestation conveyance asked of new keys (WebAuthn Level 2 §5.4.7); none by default.',
                    },
                    user_verification: {
                      type: 'string',
                      enum: ['required', 'preferred', 'discouraged'],
                      default: 'discouraged',
                      description: 'Kairos: user verification asked of a security key (Kratos asks none: discouraged). With passwordless, required makes the key a PIN- or biometrics-protected first factor.',
                    },
                    timeout: { ...duration, default: '5m', description: 'Kairos: how long the browser waits for the key (WebAuthn `timeout`).' },
                  },
                },
              },
            },
            passkey: {
              type: 'object',
              default: {},
              properties: {
                enabled: { type: 'boolean', default: false },
                config: { type: 'object', default: {}, properties: { rp: webauthnRp, timeout: { ...duration, default: '5m' } } },
              },
            },
          },
        },
      },
    },
    session: {
      type: 'object',
      default: {},
      properties: {
        lifespan: { ...duration, default: '24h' },
        cookie: {
          type: 'object',
          default: {},
          properties: {
            name: { type: 'string', default: 'ory_kratos_session' },
            domain: { type: 'string' },
            path: { type: 'string', default: '/' },
            same_site: { type: 'string', enum: ['Lax', 'Strict', 'None'], default: 'Lax' },
            persistent: { type: 'boolean', default: true },
          },
        },
        whoami: { type: 'object', default: {}, properties: { required_aal: aal } },
        earliest_possible_extend: { ...duration, description: 'Kratos: a session can be extended only once it expires within this duration; unset means always.' },
      },
    },
    secrets: {
      type: 'object',
      default: {},
      properties: {
        default: { type: 'array', items: { type: 'string', minLength: 16 }, default: [] },
        cookie: { type: 'array', items: { type: 'string', minLength: 16 }, default: [] },
        cipher: { type: 'array', items: { type: 'string', minLength: 32 }, default: [] },
      },
    },
    hashers: {
      type: 'object',
      default: {},
      properties: {
        algorithm: {
          type: 'string',
          enum: ['argon2', 'bcrypt'],
          default: 'argon2',
          description: 'Hash of new passwords (Kratos: argon2 | bcrypt). Both kinds always verify; a login re-hashes a password stored with the other algorithm or other parameters.',
        },
        bcrypt: {
          type: 'object',
          default: {},
          properties: { cost: { type: 'integer', minimum: 4, maximum: 31, default: 12, description: 'Kratos: 12 by default, at least 4.' } },
        },
        argon2: {
          type: 'object',
          default: {},
          description: 'OWASP Password Storage Cheat Sheet minimum for argon2id: m=19 MiB, t=2, p=1.',
          properties: {
            memory: { type: 'string', pattern: '^\\d+(B|KB|MB|GB|KiB|MiB|GiB)$', description: 'Kratos\'s key (e.g. 128MB, binary units); overrides memory_kib.' },
            memory_kib: { type: 'integer', minimum: 1024, default: 19456 },
            iterations: { type: 'integer', minimum: 1, default: 2 },
            parallelism: { type: 'integer', minimum: 1, default: 1 },
          },
        },
      },
    },
    courier: {
      type: 'object',
      default: {},
      properties: {
        smtp: {
          type: 'object',
          default: {},
          properties: {
            connection_uri: { type: 'string' },
            from_address: { type: 'string', default: 'no-reply@kairos.local' },
            from_name: { type: 'string', default: 'Kairos' },
          },
        },
        template_override_path: { type: 'string' },
        message_retries: { type: 'integer', minimum: 0, default: 5 },
        channels: {
          type: 'array',
          default: [],
          description:
            "Kratos's courier channels. Kairos delivers text messages (SMS codes) through one HTTP channel with `id: sms` (src/courier/http-channel.ts: the provider's request built from a Jsonnet `body` with Kratos's data model); email goes over `courier.smtp`.",
          maxItems: 1,
          items: {
            type: 'object',
            required: ['id', 'request_config'],
            properties: {
              id: { type: 'string', enum: ['sms'], description: 'Kratos: the channel id; `sms` is the channel text messages go out on.' },
              type: { type: 'string', enum: ['http'], default: 'http' },
              request_config: {
                type: 'object',
                required: ['url'],
                properties: {
                  url: { type: 'string', pattern: '^https?://' },
                  method: { type: 'string', default: 'POST' },
                  headers: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
                  body: { type: 'string', description: 'Jsonnet (`base64://`, `file://`, or inline): `function(ctx) { … }` with ctx.{recipient, body, template_type, template_data, message_type}.' },
                  auth: {
                    type: 'object',
                    required: ['type'],
                    properties: {
                      type: { type: 'string', enum: ['basic_auth', 'api_key'] },
                      config: {
                        type: 'object',
                        default: {},
                        properties: { user: { type: 'string' }, password: { type: 'string' }, name: { type: 'string' }, value: { type: 'string' }, in: { type: 'string', enum: ['header', 'cookie'] } },
                      },
                    },
                  },
                },
              },
            },
          },
        },
        worker: {
          type: 'object',
          default: {},
          description: 'Kairos: the courier loop in `kairos serve` (disable it when `kairos courier watch` runs elsewhere).',
          properties: {
            enabled: { type: 'boolean', default: true },
            poll_interval: { ...duration, default: '1s' },
          },
        },
      },
    },
    maintenance: {
      type: 'object',
      default: {},
      description: 'Kairos: the periodic job that removes what is past its retention (previous TOTP secrets, old rate-limit windows); it runs on every instance.',
      properties: {
        enabled: { type: 'boolean', default: true },
        interval: { ...duration, default: '1h' },
      },
    },
    clock: {
      type: 'object',
      default: {},
      properties: {
        ntp: {
          type: 'object',
          default: {},
          properties: {
            servers: { type: 'array', items: { type: 'string' }, default: [] },
            interval: { ...duration, default: '1h' },
            warn_threshold: { ...duration, default: '5s' },
            timeout: { ...duration, default: '2s' },
          },
        },
      },
    },
    ui: {
      type: 'object',
      default: {},
      properties: {
        brand: {
          type: 'object',
          default: {},
          properties: {
            /** Default `Kairos` (applied after load: when set, it is also the default TOTP issuer). */
            name: { type: 'string', minLength: 1 },
            primary_color: { type: 'string', pattern: '^#[0-9a-fA-F]{6}$', default: '#4f46e5' },
            logo_url: { type: 'string' },
          },
        },
        /** Languages the hosted UI offers (shipped: en, de); the first is used when Accept-Language matches none. */
        languages: { type: 'array', items: { type: 'string', enum: ['en', 'de'] }, minItems: 1, uniqueItems: true, default: ['en', 'de'] },
      },
    },
    console: {
      type: 'object',
      default: {},
      description: 'Kairos: the operator console (helpdesk, admin, auditor), src/console and docs in the README.',
      properties: {
        enabled: { type: 'boolean', default: true, description: 'Serve the console at /console.' },
        listener: { type: 'string', enum: ['admin', 'public'], default: 'admin', description: 'Which listener serves /console (the same checks on either).' },
        session_lifespan: { ...duration, default: '8h', description: 'Longest life of a console session.' },
        idle_timeout: { ...duration, default: '30m', description: 'A console session unused this long ends.' },
        four_eyes: { type: 'boolean', default: true, description: 'An MFA reset of a privileged identity needs a second operator\'s approval.' },
        approval_lifespan: { ...duration, default: '24h', description: 'How long a four-eyes request waits for approval.' },
      },
    },
    feature_flags: {
      type: 'object',
      default: {},
      description: 'Kratos feature flags Kairos honours; the others are listed in src/config/kratos-keys.ts.',
      properties: {
        faster_session_extend: { type: 'boolean', default: false, description: 'PATCH /admin/sessions/{id}/extend answers 204 without a body.' },
        legacy_require_verified_login_error: {
          type: 'boolean',
          default: false,
          description: 'require_verified_address answers with message 4000010 in the login flow (after the password method only) instead of starting a verification flow.',
        },
      },
    },
    clients: {
      type: 'object',
      default: {},
      description: "Kratos's outgoing network settings (web hooks and their remote body templates).",
      properties: {
        http: {
          type: 'object',
          default: {},
          additionalProperties: false,
          properties: {
            disallow_private_ip_ranges: {
              type: 'boolean',
              default: false,
              description: 'Refuse outgoing HTTP requests to any address that is not global unicast (private, loopback, link-local, CGNAT, reserved), checked on the address connected to, after DNS resolution.',
            },
            private_ip_exception_urls: {
              type: 'array',
              items: { type: 'string', minLength: 1 },
              default: [],
              description: 'Request URLs (exact, case-sensitive match) that may reach private addresses anyway.',
            },
          },
        },
        web_hook: {
          type: 'object',
          default: {},
          additionalProperties: false,
          properties: {
            header_allowlist: {
              type: 'array',
              items: { type: 'string' },
              description: "Request headers passed to web_hook templates as ctx.request_headers (Kratos's default list when absent).",
            },
            timeout: { ...duration, default: '30s', description: "Kairos: how long each attempt of a web_hook request may take (Kratos: 30s, fixed); a request is tried at most 3 times." },
          },
        },
      },
    },
    log: {
      type: 'object',
      default: {},
      properties: {
        level: {
          type: 'string',
          enum: ['trace', 'debug', 'info', 'warn', 'warning', 'error', 'fatal', 'panic', 'silent'],
          default: 'info',
          description: 'Kratos\'s `warning` and `panic` mean pino\'s `warn` and `fatal`.',
        },
        // No schema default: dev mode defaults to text, everything else to json (see derive() in load.ts).
        format: { type: 'string', enum: ['json', 'text'] },
        leak_sensitive_values: { type: 'boolean', default: false },
      },
    },
  },
} as const;

export interface WebAuthnRpConfig {
  id?: string;
  display_name?: string;
  origin?: string;
  origins?: string[];
}
type Flow = { enabled: boolean; ui_url: string; lifespan: string; before: HookList; after: HookList & Record<string, unknown> };

export interface CorsConfig {
  enabled: boolean;
  allowed_origins: string[];
  allowed_methods: string[];
  allowed_headers: string[];
  exposed_headers: string[];
  allow_credentials: boolean;
  options_passthrough: boolean;
  max_age: number;
  debug: boolean;
}

/** The validated configuration, every default filled in. */
/** `courier.channels[]`: an HTTP channel (Kratos `courier/http_channel.go`); Kairos has one, `sms`. */
export interface CourierChannelConfig {
  id: 'sms';
  type: 'http';
  request_config: {
    url: string;
    method: string;
    headers: Record<string, string>;
    body?: string;
    auth?: { type: 'basic_auth' | 'api_key'; config: { user?: string; password?: string; name?: string; value?: string; in?: 'header' | 'cookie' } };
  };
}

export interface KairosConfig {
  version?: string;
  dsn: string;
  dev: boolean;
  serve: {
    public: {
      base_url: string;
      host: string;
      port: number;
      trusted_proxies: string[];
      request_body_limit_bytes: number;
      rate_limit: { enabled: boolean; max_per_minute: number; identity_max_per_minute: number; store: 'database' | 'redis' | 'memory'; redis_url?: string };
      cors: CorsConfig;
    };
    admin: { base_url: string; host: string; port: number; api_keys: string[] };
  };
  identity: {
    default_schema_id: string;
    schemas: { id: string; url: string }[];
    credentials: { totp: { expose_secret_to_admin: boolean } };
  };
  selfservice: {
    default_browser_return_url: string;
    allowed_return_urls: string[];
    flows: {
      login: Flow;
      registration: Flow;
      settings: Flow & { privileged_session_max_age: string; required_aal: 'aal1' | 'highest_available' };
      recovery: Flow & { use: 'code'; mfa_reset_delay: string };
      verification: Flow & { use: 'code' };
      error: { ui_url: string };
      logout: { after: { default_browser_return_url?: string } };
    };
    /** Kairos: MFA policy by role (src/mfa/policy/rules.ts). */
    mfa: MfaConfig;
    methods: {
      profile: { enabled: boolean };
      password: {
        enabled: boolean;
        config: {
          min_password_length: number;
          max_password_length: number;
          identifier_similarity_check_enabled: boolean;
          haveibeenpwned_enabled: boolean;
        };
      };
      totp: {
        enabled: boolean;
        config: {
          issuer?: string;
          algorithm: 'SHA1' | 'SHA256' | 'SHA512';
          digits: 6 | 8;
          period: number;
          window: number;
          require_recovery_codes: boolean;
          diagnostics: { enabled: boolean; user_hints: boolean; max_skew: string; previous_secret_retention: string };
          /** Per-identity second-factor limits (mfa/attempts); every second factor shares them. */
          lockout: { free_failures: number; base_delay: string; max_delay: string; max_consecutive_failures: number };
        };
      };
      lookup_secret: { enabled: boolean; config: { count: number } };
      code: { enabled: boolean; mfa_enabled: boolean; passwordless_enabled: boolean; config: { lifespan: string } };
      webauthn: {
        enabled: boolean;
        config: {
          passwordless: boolean;
          rp: WebAuthnRpConfig;
          attestation: 'none' | 'direct' | 'enterprise';
          user_verification: 'required' | 'preferred' | 'discouraged';
          timeout: string;
        };
      };
      passkey: { enabled: boolean; config: { rp: WebAuthnRpConfig; timeout: string } };
    };
  };
  session: {
    lifespan: string;
    cookie: { name: string; domain?: string; path: string; same_site: 'Lax' | 'Strict' | 'None'; persistent: boolean };
    whoami: { required_aal: 'aal1' | 'highest_available' };
    earliest_possible_extend?: string;
  };
  secrets: { default: string[]; cookie: string[]; cipher: string[] };
  hashers: {
    algorithm: 'argon2' | 'bcrypt';
    bcrypt: { cost: number };
    argon2: { memory?: string; memory_kib: number; iterations: number; parallelism: number };
  };
  courier: {
    smtp: { connection_uri?: string; from_address: string; from_name: string };
    template_override_path?: string;
    message_retries: number;
    channels: CourierChannelConfig[];
    worker: { enabled: boolean; poll_interval: string };
  };
  maintenance: { enabled: boolean; interval: string };
  clock: { ntp: { servers: string[]; interval: string; warn_threshold: string; timeout: string } };
  ui: { brand: { name: string; primary_color: string; logo_url?: string }; languages: ('en' | 'de')[] };
  console: { enabled: boolean; listener: 'admin' | 'public'; session_lifespan: string; idle_timeout: string; four_eyes: boolean; approval_lifespan: string };
  feature_flags: { faster_session_extend: boolean; legacy_require_verified_login_error: boolean };
  clients: { http: { disallow_private_ip_ranges: boolean; private_ip_exception_urls: string[] }; web_hook: { header_allowlist?: string[]; timeout: string } };
  log: { level: string; format: 'json' | 'text'; leak_sensitive_values: boolean };
}
