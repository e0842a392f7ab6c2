/**
 * Identity schemas: JSON Schema for traits with Kratos's `ory.sh/kratos` extension, which marks which traits are
 * password identifiers, the TOTP account name, and verification/recovery addresses.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { createRequire } from 'node:module';
import { DRAFT_07, draft07MetaSchemaValidator } from './meta-schema.js';

/**
 * libphonenumber (awesome-phonenumber, ~350 kB of metadata) is loaded on first use, synchronously (a JSON Schema
 * format is checked synchronously): a deployment without phone numbers in its identity schema never parses it.
 */
const requireFromHere = createRequire(import.meta.url);
let phoneNumbers: typeof import('awesome-phonenumber') | null = null;
const parsePhoneNumber = (value: string) => (phoneNumbers ??= requireFromHere('awesome-phonenumber') as typeof import('awesome-phonenumber')).parsePhoneNumber(value);
import { msg, type UiText } from '../ui/messages.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export const KRATOS_EXTENSION = 'ory.sh/kratos';

interface ExtensionAnnotations {
  credentials?: {
    password?: { identifier?: boolean };
    totp?: { account_name?: boolean };
    code?: { identifier?: boolean; via?: string };
    webauthn?: { identifier?: boolean };
    passkey?: { display_name?: boolean };
  };
  verification?: { via?: string };
  recovery?: { via?: string };
}

interface AnnotatedTrait {
  path: string[];
  format?: string;
  annotations: ExtensionAnnotations;
}

/** What the extension says about one identity's traits. */
export interface TraitFacts {
  passwordIdentifiers: string[];
  codeIdentifiers: string[];
  /** Traits marked `credentials.webauthn.identifier`: what a passwordless security-key sign-in starts from (Kratos). */
  webauthnIdentifiers: string[];
  /** The code identifiers with the channel a code goes out on (`credentials.code.via`: email, or sms for phone numbers). */
  codeAddresses: { value: string; via: string }[];
  totpAccountName: string | null;
  verificationAddresses: { value: string; via: string }[];
  recoveryAddresses: { value: string; via: string }[];
}

/** One leaf trait: `name` is its dotted path below `traits` (`email`, `name.first`). */
export interface TraitField {
  name: string;
  path: string[];
  type: string;
  format?: string;
  title?: string;
  required: boolean;
}

export interface TraitProblem {
  /** Node name the message belongs to (`traits.email`), or null for the whole form. */
  field: string | null;
  message: UiText;
}

export class IdentitySchema {
  readonly annotated: AnnotatedTrait[];
  private readonly validator: ValidateFunction;

  constructor(
    readonly id: string,
    readonly url: string,
    readonly schema: Record<string, unknown>,
    ajv: Ajv,
  ) {
    this.validator = ajv.compile(schema);
    this.annotated = [];
    const traits = (schema.properties as Record<string, any> | undefined)?.traits;
    if (traits) this.collect(traits, []);
  }

  private collect(node: Record<string, any>, path: string[]): void {
    if (node[KRATOS_EXTENSION] && path.length > 0) {
      this.annotated.push({ path, format: node.format, annotations: node[KRATOS_EXTENSION] });
    }
    if (node.type === 'object' && node.properties) {
      for (const [key, child] of Object.entries<Record<string, any>>(node.properties)) this.collect(child, [...path, key]);
    }
  }

  /**
   * The leaf trait fields, for form rendering: like Kratos, an object trait is not a field of its own, its properties
   * are (`name.first`, `name.last`). `required` holds only when every level on the way is required.
   */
  traitFields(): TraitField[] {
    const traits = (this.schema.properties as Record<string, any> | undefined)?.traits;
    const out: TraitField[] = [];
    const walk = (node: Record<string, any>, prefix: string[], parentRequired: boolean): void => {
      const required: string[] = Array.isArray(node.required) ? node.required : [];
      for (const [key, def] of Object.entries<Record<string, any>>(node.properties ?? {})) {
        const path = [...prefix, key];
        const isRequired = parentRequired && required.includes(key);
        if (def.type === 'object' && def.properties) walk(def, path, isRequired);
        else out.push({ name: path.join('.'), path, type: def.type ?? 'string', format: def.format, title: def.title, required: isRequired });
      }
    };
    if (traits?.properties) walk(traits, [], true);
    return out;
  }

  /** Validates `{traits}`; returns Kratos-style messages per field (empty when valid). */
  validateTraits(traits: unknown): TraitProblem[] {
    if (this.validator({ traits })) return [];
    return (this.validator.errors ?? []).map(toProblem);
  }

  /** Normalises identifiers: emails are trimmed and lower-cased (Kratos does the same for email identifiers). */
  facts(traits: Record<string, unknown>): TraitFacts {
    const facts: TraitFacts = {
      passwordIdentifiers: [],
      codeIdentifiers: [],
      webauthnIdentifiers: [],
      codeAddresses: [],
      totpAccountName: null,
      verificationAddresses: [],
      recoveryAddresses: [],
    };
    for (const trait of this.annotated) {
      let value: unknown = traits;
      for (const key of trait.path) value = (value as Record<string, unknown> | undefined)?.[key];
      const values = (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string' && v !== '');
      const a = trait.annotations;
      const phone = trait.format === 'tel' || a.verification?.via === 'sms' || a.credentials?.code?.via === 'sms' || a.recovery?.via === 'sms';
      const normalised = values.map((v) => (trait.format === 'email' ? v.trim().toLowerCase() : phone ? normalizePhoneNumber(v) : v.trim()));
      if (a.credentials?.password?.identifier) facts.passwordIdentifiers.push(...normalised);
      if (a.credentials?.webauthn?.identifier) facts.webauthnIdentifiers.push(...normalised);
      if (a.credentials?.code?.identifier) {
        facts.codeIdentifiers.push(...normalised);
        const via = a.credentials.code.via ?? (phone ? 'sms' : 'email');
        facts.codeAddresses.push(...normalised.map((value) => ({ value, via })));
      }
      if (a.credentials?.totp?.account_name && facts.totpAccountName === null && values[0]) facts.totpAccountName = values[0].trim();
      if (a.verification?.via) facts.verificationAddresses.push(...normalised.map((v) => ({ value: v, via: a.verification!.via! })));
      if (a.recovery?.via) facts.recoveryAddresses.push(...normalised.map((v) => ({ value: v, via: a.recovery!.via! })));
    }
    const unique = <T>(items: T[], key: (t: T) => string) => [...new Map(items.map((i) => [key(i), i])).values()];
    facts.passwordIdentifiers = [...new Set(facts.passwordIdentifiers)];
    facts.codeIdentifiers = [...new Set(facts.codeIdentifiers)];
    facts.webauthnIdentifiers = [...new Set(facts.webauthnIdentifiers)];
    facts.codeAddresses = unique(facts.codeAddresses, (a) => `${a.via}:${a.value}`);
    facts.verificationAddresses = unique(facts.verificationAddresses, (a) => `${a.via}:${a.value}`);
    facts.recoveryAddresses = unique(facts.recoveryAddresses, (a) => `${a.via}:${a.value}`);
    return facts;
  }
}

/**
 * A phone number as Kratos stores phone identifiers and addresses: E.164 (`+4915123456789`), parsed with Google's
 * libphonenumber (awesome-phonenumber), so `+49 151 2345 6789` and `+49-151-23456789` are one number. A value that
 * is not a valid international number is kept trimmed (the `tel` format refuses it at validation).
 */
export function normalizePhoneNumber(value: string): string {
  const parsed = parsePhoneNumber(value.trim());
  return parsed.valid ? parsed.number.e164 : value.trim();
}

/** JSON Schema `format: tel` (as Kratos registers it): a valid phone number in international form (`+` and country code). */
export function isPhoneNumber(value: string): boolean {
  return value.trim().startsWith('+') && parsePhoneNumber(value.trim()).valid;
}

function toProblem(error: ErrorObject): TraitProblem {
  // instancePath like /traits/email; required errors point at the parent.
  const segments = error.instancePath.split('/').filter(Boolean);
  let field = segments.length > 0 ? segments.join('.') : null;
  let message: UiText;
  switch (error.keyword) {
    case 'required': {
      const property = String(error.params.missingProperty);
      field = [...segments, property].join('.');
      message = msg.required(property);
      break;
    }
    case 'minLength':
      message = msg.minLength(Number(error.params.limit), 0);
      break;
    case 'maxLength':
      message = msg.maxLength(Number(error.params.limit), 0);
      break;
    case 'format':
      message = msg.invalidFormat(String(error.params.format), '');
      break;
    case 'type':
      message = msg.wrongType([String(error.params.type)], 'another type');
      break;
    case 'additionalProperties':
      field = null;
      message = msg.generic(`additionalProperties "${String(error.params.additionalProperty)}" not allowed`);
      break;
    default:
      message = msg.generic(error.message ?? 'invalid value');
  }
  if (field === 'traits') field = null;
  return { field, message };
}

/** Fills the actual values into length/format messages (ajv reports the limit, not the value). */
export function describeProblems(problems: TraitProblem[], traits: Record<string, unknown>): TraitProblem[] {
  return problems.map((p) => {
    if (!p.field) return p;
    let value: unknown = { traits };
    for (const key of p.field.split('.')) value = (value as Record<string, unknown> | undefined)?.[key];
    const m = p.message;
    if (m.id === 4000003 && typeof value === 'string') return { ...p, message: msg.minLength(Number(m.context?.min_length), value.length) };
    if (m.id === 4000017 && typeof value === 'string') return { ...p, message: msg.maxLength(Number(m.context?.max_length), value.length) };
    if (m.id === 4000004) return { ...p, message: msg.invalidFormat(String(m.context?.pattern), value) };
    if (m.id === 4000023) return { ...p, message: msg.wrongType(m.context?.allowed_types as string[], value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value) };
    return p;
  });
}

export function loadSchemaDocument(url: string): Record<string, unknown> {
  let text: string;
  if (url.startsWith('base64://')) text = Buffer.from(url.slice('base64://'.length), 'base64').toString('utf8');
  else if (url.startsWith('file://')) text = readFileSync(fileURLToPath(url), 'utf8');
  else throw new TypeError(`identity.schemas: unsupported schema URL "${url}" (use file:// or base64://)`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TypeError(`identity.schemas: schema at ${url.slice(0, 60)} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Throws ajv's own "schema is invalid: …" error for a document that its declared JSON Schema draft rejects. */
function checkAgainstMetaSchema(ajv: Ajv, document: Record<string, unknown>): void {
  const declared = typeof document.$schema === 'string' ? document.$schema.replace(/#$/, '') : DRAFT_07;
  if (declared !== DRAFT_07) {
    ajv.validateSchema(document, true);
    return;
  }
  const validate = draft07MetaSchemaValidator();
  if (!validate(document)) throw new Error(`schema is invalid: ${ajv.errorsText(validate.errors)}`);
}

export class IdentitySchemas {
  private readonly byId = new Map<string, IdentitySchema>();

  constructor(
    entries: { id: string; url: string }[],
    readonly defaultId: string,
    readonly publicBaseUrl: string,
  ) {
    // The schema documents are checked against draft-07 by a validator compiled at build time (meta-schema.ts), so
    // ajv need not compile its meta-schema at every start; a document declaring another draft is checked by ajv.
    const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: false });
    addFormats(ajv);
    ajv.addFormat('tel', { type: 'string', validate: isPhoneNumber });
    for (const entry of entries) {
      const document = loadSchemaDocument(entry.url);
      delete document.$id;
      checkAgainstMetaSchema(ajv, document);
      this.byId.set(entry.id, new IdentitySchema(entry.id, entry.url, document, ajv));
    }
  }

  get(id: string): IdentitySchema | undefined {
    return this.byId.get(id);
  }

  getDefault(): IdentitySchema {
    return this.byId.get(this.defaultId)!;
  }

  /** Where clients fetch the schema (Kratos serves them at /schemas/{id}). */
  /** Built once per schema id: every session and identity answer carries it (a `new URL` per whoami showed in the profile). */
  private readonly urls = new Map<string, string>();

  urlFor(id: string): string {
    let url = this.urls.get(id);
    if (url === undefined) {
      url = new URL(`schemas/${encodeURIComponent(Buffer.from(id).toString('base64url'))}`, this.publicBaseUrl).toString();
      if (this.byId.has(id)) this.urls.set(id, url);
    }
    return url;
  }

  list(): IdentitySchema[] {
    return [...this.byId.values()];
  }
}
