import { isIPv4, isIPv6 } from 'node:net';
import { accessSync, constants as fsConstants, existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, resolve, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { ErrorObject } from 'ajv';
import { configSchema, type KairosConfig } from './schema.js';
import { checkKratosKeys, isKratosKeyOrParent } from './kratos-keys.js';
import { hookRefusal, placedHooks } from './hooks.js';
import { webHookConfigProblems, type WebHookConfig } from './web-hook.js';
import { corsOriginProblem } from './cors.js';
import { configValidator } from './validator.js';
import { packageFile, RUNNING_BUILT } from '../support/package-files.js';
import { dialectOf } from '../storage/db.js';
import { compilePolicies, enabledPolicyMethods, PolicyConfigError } from '../mfa/policy/rules.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  /** Path of a YAML/JSON config file; none in dev mode means built-in defaults. */
  file?: string;
  dev?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Whether stdout is a terminal (default: process.stdout.isTTY); decides dev mode's default log.format. */
  stdoutIsTTY?: boolean;
  /** Applied after the file and before the environment (tests use this). */
  overrides?: Record<string, unknown>;
  /** Where dev mode keeps its SQLite file and generated secrets. */
  devDirectory?: string;
}

export interface LoadedConfig {
  config: KairosConfig;
  warnings: string[];
  /** Set in dev mode: what was generated and where it is kept. */
  devNotes: string[];
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function deepMerge(target: Json, source: Json): Json {
  const out: Json = { ...target };
  for (const [key, value] of Object.entries(source)) {
    out[key] = isObject(value) && isObject(out[key]) ? deepMerge(out[key] as Json, value) : value;
  }
  return out;
}

/** The identity schema used when none is configured (src/config/; the build copies it to dist/). */
export const DEFAULT_SCHEMA_PATH = RUNNING_BUILT ? packageFile('dist', 'default-identity.schema.json') : packageFile('src', 'config', 'default-identity.schema.json');

/** Every leaf key path of the schema with its type, for environment overrides and unknown-key warnings. */
function schemaLeaves(schema: Json, prefix: string[] = [], out: { path: string[]; schema: Json }[] = []) {
  const properties = schema.properties as Json | undefined;
  if (schema.type === 'object' && properties) {
    for (const [key, sub] of Object.entries(properties)) schemaLeaves(sub as Json, [...prefix, key], out);
  } else {
    out.push({ path: prefix, schema });
  }
  return out;
}

function coerceEnv(value: string, schema: Json, name: string): unknown {
  switch (schema.type) {
    case 'integer':
    case 'number': {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new ConfigError(`environment variable ${name}: "${value}" is not a number`);
      return n;
    }
    case 'boolean':
      if (/^(true|1|yes)$/i.test(value)) return true;
      if (/^(false|0|no)$/i.test(value)) return false;
      throw new ConfigError(`environment variable ${name}: "${value}" is not a boolean`);
    case 'array':
      if (value.trim().startsWith('[')) return JSON.parse(value);
      return value.split(',').map((s) => s.trim()).filter(Boolean);
    case 'object':
      return JSON.parse(value);
    default:
      return value;
  }
}

/** Kratos-style overrides: the key path upper-cased and joined with "_" (SERVE_PUBLIC_PORT, DSN, SECRETS_DEFAULT). */
export function environmentOverrides(env: NodeJS.ProcessEnv): Json {
  let out: Json = {};
  for (const leaf of schemaLeaves(configSchema as unknown as Json)) {
    const name = leaf.path.join('_').toUpperCase();
    const value = env[name];
    if (value === undefined || value === '') continue;
    let nested: unknown = coerceEnv(value, leaf.schema, name);
    for (const key of [...leaf.path].reverse()) nested = { [key]: nested };
    out = deepMerge(out, nested as Json);
  }
  return out;
}

function unknownKeys(value: unknown, schema: Json, path: string[] = []): string[] {
  if (!isObject(value) || schema.type !== 'object' || !schema.properties) return [];
  const properties = schema.properties as Json;
  const found: string[] = [];
  for (const [key, sub] of Object.entries(value)) {
    const subSchema = properties[key] as Json | undefined;
    if (!subSchema) {
      // Kratos keys Kairos does not honour are checked by checkKratosKeys (refused or documented), not warned about.
      if (!isKratosKeyOrParent([...path, key])) found.push([...path, key].join('.'));
    }
    else if (subSchema.properties) found.push(...unknownKeys(sub, subSchema, [...path, key]));
  }
  return found;
}

function describe(error: ErrorObject): string {
  const key = error.instancePath.replace(/^\//, '').replaceAll('/', '.') || '(root)';
  if (error.keyword === 'required') return `${key === '(root)' ? '' : key + '.'}${String(error.params.missingProperty)}: is required`;
  if (error.keyword === 'enum') return `${key}: must be one of ${(error.params.allowedValues as unknown[]).join(', ')}`;
  if (error.keyword === 'pattern' && error.schemaPath.includes('lifespan') || error.keyword === 'pattern')
    return `${key}: ${error.message} (durations are written like 30s, 10m, 1h)`;
  return `${key}: ${error.message}`;
}

function readConfigFile(file: string): Json {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isObject(parsed)) throw new ConfigError(`config file ${file} must contain a mapping at the top level`);
  return parsed;
}

const generatedSecret = () => randomBytes(32).toString('base64url').slice(0, 40);

/** Dev mode keeps generated secrets in a file beside the SQLite database, so sessions survive restarts. */
function devSecrets(directory: string, notes: string[]): { default: string[]; cookie: string[]; cipher: string[] } {
  const file = join(directory, 'secrets.json');
  if (existsSync(file)) {
    notes.push(`using development secrets from ${file}`);
    return JSON.parse(readFileSync(file, 'utf8'));
  }
  mkdirSync(directory, { recursive: true });
  const secrets = { default: [generatedSecret()], cookie: [generatedSecret()], cipher: [generatedSecret()] };
  writeFileSync(file, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  notes.push(`generated development secrets and saved them to ${file} (mode 600)`);
  return secrets;
}

function devDefaults(directory: string): Json {
  return {
    dsn: `sqlite://${join(directory, 'kairos.sqlite')}`,
    dev: true,
    identity: { default_schema_id: 'default', schemas: [{ id: 'default', url: 'file://' + DEFAULT_SCHEMA_PATH }] },
    selfservice: {
      methods: {
        totp: { enabled: true },
        lookup_secret: { enabled: true },
        code: { enabled: true },
      },
    },
  };
}

/** Fill what depends on other keys (URLs derived from the public base URL, lookup secrets following TOTP). */
function derive(config: Json): void {
  const c = config as unknown as KairosConfig;
  const pub = c.serve.public;
  if (!pub.base_url) {
    const host = pub.host === '0.0.0.0' || pub.host === '::' ? '127.0.0.1' : pub.host;
    pub.base_url = `http://${host.includes(':') ? `[${host}]` : host}:${pub.port}/`;
  }
  if (!pub.base_url.endsWith('/')) pub.base_url += '/';
  const admin = c.serve.admin;
  if (!admin.base_url) admin.base_url = `http://${admin.host}:${admin.port}/`;
  if (!admin.base_url.endsWith('/')) admin.base_url += '/';
  const ui = (path: string) => new URL(`ui/${path}`, pub.base_url).toString();
  const flows = c.selfservice.flows;
  for (const kind of ['login', 'registration', 'settings', 'recovery', 'verification'] as const) {
    flows[kind].ui_url ||= ui(kind);
  }
  flows.error.ui_url ||= ui('error');
  c.selfservice.default_browser_return_url ||= ui('welcome');
  const methods = c.selfservice.methods;
  if (methods.lookup_secret.enabled === undefined) methods.lookup_secret.enabled = methods.totp.enabled || methods.webauthn.enabled;
  if (methods.totp.config.require_recovery_codes === undefined)
    methods.totp.config.require_recovery_codes = methods.lookup_secret.enabled;
  // The name authenticator apps show: the configured issuer, else the brand when one is set, else the public host.
  if (!methods.totp.config.issuer) methods.totp.config.issuer = c.ui.brand.name || new URL(pub.base_url).hostname;
  c.ui.brand.name ||= 'Kairos';
  // Kratos's log levels are logrus's; pino calls two of them differently.
  if (c.log.level === 'warning') c.log.level = 'warn';
  if (c.log.level === 'panic') c.log.level = 'fatal';
  if (c.hashers.argon2.memory) c.hashers.argon2.memory_kib = parseMemoryKib(c.hashers.argon2.memory);
}

/** Kratos's argon2 `memory` ("128MB"): binary units, as Kratos's bytesize parser reads them. */
function parseMemoryKib(value: string): number {
  const m = /^(\d+)(B|KB|MB|GB|KiB|MiB|GiB)$/.exec(value)!;
  const bytesPerUnit: Record<string, number> = { B: 1, KB: 1024, KiB: 1024, MB: 1024 ** 2, MiB: 1024 ** 2, GB: 1024 ** 3, GiB: 1024 ** 3 };
  const kib = Math.floor((Number(m[1]) * bytesPerUnit[m[2]!]!) / 1024);
  if (kib < 1024) throw new ConfigError(`hashers.argon2.memory: ${value} is below 1MB`);
  return kib;
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const warnings: string[] = [];
  const devNotes: string[] = [];
  const devDirectory = resolve(options.devDirectory ?? '.kairos');
  let raw: Json = {};
  if (options.dev) raw = devDefaults(devDirectory);
  if (options.file) raw = deepMerge(raw, readConfigFile(options.file));
  if (options.overrides) raw = deepMerge(raw, options.overrides);
  raw = deepMerge(raw, environmentOverrides(env));
  if (options.dev) raw.dev = true;

  const kratosKeys = checkKratosKeys(raw);
  warnings.push(...kratosKeys.differences);
  for (const key of unknownKeys(raw, configSchema as unknown as Json)) warnings.push(`unknown config key "${key}" is ignored`);

  const config = structuredClone(raw);
  const validate = configValidator();
  if (!validate(config)) {
    const problems = (validate.errors ?? []).map(describe);
    throw new ConfigError(`invalid configuration:\n  - ${[...new Set(problems)].join('\n  - ')}`);
  }
  derive(config);
  const c = config as unknown as KairosConfig;
  // Readable lines for a developer at a terminal (dev mode, stdout a TTY); JSON lines, one object per line, for log
  // shippers and pipes everywhere else. An explicit log.format always wins.
  c.log.format ??= c.dev && (options.stdoutIsTTY ?? process.stdout.isTTY === true) ? 'text' : 'json';

  const flows = c.selfservice.flows;
  const refusals = [
    ...kratosKeys.refusals,
    ...placedHooks(flows).map(hookRefusal).filter((m): m is string => m !== null),
    ...placedHooks(flows)
      .filter((p) => p.hook.hook === 'web_hook')
      .flatMap((p) => webHookConfigProblems((p.hook.config ?? {}) as Partial<WebHookConfig>).map((problem) => `${p.key}.config: ${problem}`)),
    ...c.serve.public.cors.allowed_origins.map((o) => corsOriginProblem(o)).filter((m): m is string => m !== null).map((m) => `serve.public.cors.allowed_origins: ${m}`),
  ];
  if (refusals.length > 0) throw new ConfigError(`unsupported configuration:\n  - ${refusals.join('\n  - ')}`);

  if (c.dev) {
    const missing = (['default', 'cookie', 'cipher'] as const).filter((k) => c.secrets[k].length === 0);
    if (missing.length > 0) {
      const generated = devSecrets(devDirectory, devNotes);
      for (const k of missing) c.secrets[k] = generated[k];
    }
  } else {
    if (c.secrets.default.length === 0)
      throw new ConfigError('secrets.default: is required outside dev mode (at least one secret of 16+ characters)');
    if (c.secrets.cipher.length === 0 && c.selfservice.methods.totp.enabled)
      throw new ConfigError('secrets.cipher: is required when TOTP is enabled (a secret of 32+ characters encrypts TOTP secrets at rest)');
    if (c.secrets.cipher.length === 0 && c.selfservice.methods.lookup_secret.enabled && !c.secrets.default.some((s) => s.length >= 32))
      throw new ConfigError('secrets.cipher: is required when lookup_secret is enabled (a secret of 32+ characters encrypts new recovery codes while they await confirmation)');
  }
  if (c.secrets.cookie.length === 0) c.secrets.cookie = c.secrets.default;
  if (c.secrets.cipher.length === 0) c.secrets.cipher = c.secrets.default.filter((s) => s.length >= 32);

  if (c.identity.schemas.length === 0) {
    c.identity.schemas = [{ id: c.identity.default_schema_id, url: 'file://' + DEFAULT_SCHEMA_PATH }];
  }
  try {
    dialectOf(c.dsn);
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}; set dsn in the config file or the DSN environment variable`);
  }
  for (const [index, schema] of c.identity.schemas.entries()) {
    if (!schema.url.startsWith('file://')) continue;
    const path = fileURLToPath(schema.url);
    try {
      accessSync(path, fsConstants.R_OK);
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not readable';
      throw new ConfigError(`identity.schemas[${index}].url: the identity schema "${schema.id}" cannot be read from ${path} (${reason})`);
    }
  }
  if (!c.identity.schemas.some((s) => s.id === c.identity.default_schema_id)) {
    throw new ConfigError(`identity.default_schema_id: "${c.identity.default_schema_id}" is not one of identity.schemas[].id`);
  }
  if (c.selfservice.methods.totp.config.window > 1) {
    warnings.push(
      `selfservice.methods.totp.config.window is ${c.selfservice.methods.totp.config.window}: every TOTP code stays valid for ${(2 * c.selfservice.methods.totp.config.window + 1) * c.selfservice.methods.totp.config.period}s; fix clocks instead of widening the window (runbook cause 7)`,
    );
  }
  if (c.selfservice.methods.totp.config.require_recovery_codes && !c.selfservice.methods.lookup_secret.enabled) {
    throw new ConfigError('selfservice.methods.totp.config.require_recovery_codes: needs selfservice.methods.lookup_secret.enabled (recovery codes are what it requires)');
  }
  // MFA policies are checked here, with the rest of the configuration: an invalid rule stops every command (exit 2),
  // naming the rule and the problem.
  try {
    compilePolicies(c.selfservice.mfa, { enabled: enabledPolicyMethods(c.selfservice.methods, c.courier.channels), recoveryCodesAtEnrollment: c.selfservice.methods.totp.config.require_recovery_codes, webauthnPasswordless: c.selfservice.methods.webauthn.config.passwordless === true });
  } catch (err) {
    if (err instanceof PolicyConfigError) throw new ConfigError(err.message);
    throw err;
  }
  if (!isLiteralLoopback(c.serve.admin.host) && c.serve.admin.api_keys.length === 0) {
    throw new ConfigError(
      `serve.admin.api_keys: is required when serve.admin.host is "${c.serve.admin.host}" (the admin API must not be reachable beyond loopback without a key; only the literal addresses 127.0.0.0/8 and ::1 count as loopback, a name such as "localhost" is resolved at listen time and may not be)`,
    );
  }
  if (c.serve.public.rate_limit.store === 'redis' && !c.serve.public.rate_limit.redis_url) {
    throw new ConfigError('serve.public.rate_limit.redis_url: is required when serve.public.rate_limit.store is "redis"');
  }
  return { config: Object.freeze(c) as KairosConfig, warnings, devNotes };
}

/**
 * Is `host` a literal loopback address (127.0.0.0/8, ::1, ::ffff:127.x)? Names are not: `localhost` is resolved by
 * the system when the listener binds (/etc/hosts, NSS), so the rule "loopback needs no admin key" would depend on
 * something outside Kairos's configuration (issue 14, finding 9).
 */
export function isLiteralLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (isIPv4(bare)) return bare.startsWith('127.');
  if (isIPv6(bare)) {
    const lower = bare.toLowerCase();
    if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    return mapped !== null && mapped[1]!.startsWith('127.');
  }
  return false;
}
