/**
 * Request bodies: one JSON Schema per route that takes a body, registered as the route's `schema.body` (so it is in
 * /openapi.json and Fastify validates it before the handler runs), and beside each schema the TypeScript type the
 * handler reads it as. The types are written by hand; `bodies.test.ts` validates a sample of each type against its
 * schema (and wrong-typed variants against it), which keeps the two in step.
 *
 * Shapes are Kratos's (its OpenAPI `createIdentityBody`, `updateIdentityBody`, `jsonPatch`,
 * `patchIdentitiesBody`, `createRecoveryCodeForIdentityBody`, `createRecoveryLinkForIdentityBody`,
 * `performNativeLogoutBody`, `update<Flow>FlowBody`), plus Kairos's own (`reason` on helpdesk actions).
 *
 * Known fields are typed; unknown fields are allowed where Kratos's decoder ignores them (SDK versions send fields
 * such as `organization_id` that Kairos does not use), and refused where Kratos's is strict (the batch envelope).
 * Validation runs with Fastify's ajv set to no coercion, no removal of additional fields and the first error only
 * (server.ts); a failure is a 400 in Kratos's error envelope naming the field (`validationError` below).
 *
 * Self-service submissions (`POST /self-service/<flow>`) are documented, not validated by Fastify: Kratos answers
 * a problem in a submission inside the flow (the flow with messages on its nodes), and browser forms arrive flat
 * (`traits.email=…`, every value a string), so the flow strategies check their own fields (`docsOnly`).
 */
import type { FastifyError, FastifySchemaCompiler } from 'fastify';
import { errors, type HttpError } from '../errors/http-error.js';

/** Reasons an operator gives for a helpdesk action are bounded so the audit trail stays readable. */
export const MAX_REASON_LENGTH = 1000;

const anyValue = {} as const;
const reason = { type: 'string', maxLength: MAX_REASON_LENGTH, description: 'Why (recorded in the audit trail; Kairos extension)' } as const;

// --- Identities (admin) --------------------------------------------------------------------------------------------

const identityState = { type: 'string', enum: ['active', 'inactive'] } as const;

const addressSchema = {
  type: 'object',
  required: ['value'],
  properties: {
    value: { type: 'string' },
    verified: { type: 'boolean' },
    via: { type: 'string' },
    status: { type: 'string' },
  },
  additionalProperties: true,
} as const;

export interface ImportedAddress {
  value: string;
  verified?: boolean;
  via?: string;
  status?: string;
  [key: string]: unknown;
}

/** `credentials.<type>.config`: the password (plain or hashed), `totp_url`, lookup codes, OIDC providers… */
const credentialsSchema = {
  type: 'object',
  description: 'Credentials to import, by type (password, totp, lookup_secret, oidc…), each with its `config`',
  additionalProperties: {
    type: 'object',
    required: ['config'],
    properties: { config: { type: 'object', additionalProperties: true } },
    additionalProperties: true,
  },
} as const;

export type ImportedCredentials = Record<string, { config: Record<string, unknown>; [key: string]: unknown }>;

export const createIdentityBodySchema = {
  type: 'object',
  description: 'Kratos createIdentityBody',
  properties: {
    schema_id: { type: 'string', description: 'Defaults to identity.default_schema_id' },
    traits: { type: 'object', additionalProperties: true },
    state: identityState,
    metadata_public: anyValue,
    metadata_admin: anyValue,
    external_id: { type: ['string', 'null'] },
    credentials: credentialsSchema,
    verifiable_addresses: { type: 'array', items: addressSchema },
    recovery_addresses: { type: 'array', items: addressSchema },
    organization_id: { type: ['string', 'null'] },
  },
  additionalProperties: true,
} as const;

export interface CreateIdentityBody {
  schema_id?: string;
  traits?: Record<string, unknown>;
  state?: 'active' | 'inactive';
  metadata_public?: unknown;
  metadata_admin?: unknown;
  external_id?: string | null;
  credentials?: ImportedCredentials;
  verifiable_addresses?: ImportedAddress[];
  recovery_addresses?: ImportedAddress[];
  organization_id?: string | null;
  [key: string]: unknown;
}

export const updateIdentityBodySchema = {
  type: 'object',
  description: 'Kratos updateIdentityBody',
  required: ['state'],
  properties: {
    schema_id: { type: 'string' },
    traits: { type: 'object', additionalProperties: true },
    state: identityState,
    metadata_public: anyValue,
    metadata_admin: anyValue,
    external_id: { type: ['string', 'null'] },
    credentials: credentialsSchema,
  },
  additionalProperties: true,
} as const;

export interface UpdateIdentityBody {
  schema_id?: string;
  traits?: Record<string, unknown>;
  state: 'active' | 'inactive';
  metadata_public?: unknown;
  metadata_admin?: unknown;
  external_id?: string | null;
  credentials?: ImportedCredentials;
  [key: string]: unknown;
}

/** RFC 6902, as Kratos's `jsonPatch`. */
export const jsonPatchBodySchema = {
  type: 'array',
  description: 'Kratos jsonPatchDocument (RFC 6902)',
  items: {
    type: 'object',
    required: ['op', 'path'],
    properties: {
      op: { type: 'string', enum: ['add', 'remove', 'replace', 'move', 'copy', 'test'] },
      path: { type: 'string' },
      from: { type: 'string' },
      value: anyValue,
    },
    additionalProperties: false,
  },
} as const;

export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}
export type JsonPatchBody = JsonPatchOperation[];

/** Kratos's `patchIdentitiesBody`; its decoder refuses unknown fields in the envelope. */
export const batchPatchIdentitiesBodySchema = {
  type: 'object',
  description: 'Kratos patchIdentitiesBody',
  required: ['identities'],
  properties: {
    identities: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          create: createIdentityBodySchema,
          patch_id: { type: 'string', format: 'uuid' },
        },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
} as const;

export interface BatchPatchIdentitiesBody {
  identities: { create?: CreateIdentityBody; patch_id?: string }[];
}

/** `DELETE /admin/identities/{id}/credentials/{type}`: an optional reason (the query's `reason` also works). */
export const deleteCredentialBodySchema = {
  type: ['object', 'null'],
  properties: { reason },
  additionalProperties: true,
} as const;

export type DeleteCredentialBody = { reason?: string; [key: string]: unknown } | null;

/** `POST /admin/identities/{id}/mfa/unlock` (Kairos): an optional reason. */
export const mfaUnlockBodySchema = {
  type: ['object', 'null'],
  properties: { reason: { ...reason, type: ['string', 'null'] } },
  additionalProperties: true,
} as const;

export type MfaUnlockBody = { reason?: string | null; [key: string]: unknown } | null;

// --- Recovery (admin) ----------------------------------------------------------------------------------------------

const expiresIn = { type: 'string', description: 'A duration such as "15m" or "1h" (more than 0, at most 168h)' } as const;

export const createRecoveryCodeBodySchema = {
  type: 'object',
  description: 'Kratos createRecoveryCodeForIdentityBody',
  required: ['identity_id'],
  properties: {
    identity_id: { type: 'string' },
    expires_in: expiresIn,
    flow_type: { type: 'string', enum: ['browser', 'api'] },
    reason,
  },
  additionalProperties: true,
} as const;

export interface CreateRecoveryCodeBody {
  identity_id: string;
  expires_in?: string;
  flow_type?: 'browser' | 'api';
  reason?: string;
  [key: string]: unknown;
}

export const createRecoveryLinkBodySchema = {
  type: 'object',
  description: 'Kratos createRecoveryLinkForIdentityBody',
  required: ['identity_id'],
  properties: { identity_id: { type: 'string' }, expires_in: expiresIn, reason },
  additionalProperties: true,
} as const;

export interface CreateRecoveryLinkBody {
  identity_id: string;
  expires_in?: string;
  reason?: string;
  [key: string]: unknown;
}

// --- Public ----------------------------------------------------------------------------------------------------------

/** `DELETE /self-service/logout/api` (Kratos performNativeLogoutBody). */
export const nativeLogoutBodySchema = {
  type: 'object',
  description: 'Kratos performNativeLogoutBody',
  required: ['session_token'],
  properties: { session_token: { type: 'string', minLength: 1 } },
  additionalProperties: true,
} as const;

export interface NativeLogoutBody {
  session_token: string;
  [key: string]: unknown;
}

/** `POST /ui/sessions/revoke` (hosted UI form). Documented only: the page answers a bad form. */
export const revokeSessionFormSchema = {
  type: 'object',
  properties: { csrf_token: { type: 'string' }, session_id: { type: 'string', description: 'A session id, or "others"' } },
  additionalProperties: true,
} as const;

export interface RevokeSessionForm {
  csrf_token?: unknown;
  session_id?: unknown;
  [key: string]: unknown;
}

/** The content types of bodies a browser form may also send (documented as `consumes`). */
export const FORM_OR_JSON = ['application/json', 'application/x-www-form-urlencoded'];

/** `POST /self-service/recovery/mfa-reset/cancel` (Kairos): the token of the emailed cancel link. Documented only. */
export const mfaResetCancelFormSchema = {
  type: 'object',
  properties: { token: { type: 'string', description: 'The token of the cancel link in the notification email' } },
  additionalProperties: true,
} as const;

export interface MfaResetCancelForm {
  token?: unknown;
  [key: string]: unknown;
}

/** A flag a JSON client sends as a boolean and a browser form as the string "true". */
const flag = { type: ['boolean', 'string'] } as const;
const csrfToken = { type: 'string', description: 'Required for browser flows' } as const;
const transientPayload = { type: 'object', additionalProperties: true } as const;
const traits = { type: 'object', additionalProperties: true, description: 'Identity traits; a form sends them flat (`traits.email`)' } as const;

/**
 * The known fields of each flow's submission by `method` (Kratos's `update<Flow>FlowWith<Method>Method` bodies),
 * as one object per method; Kratos's OpenAPI joins them with `oneOf` and a `method` discriminator.
 */
const FLOW_METHOD_FIELDS: Record<string, Record<string, Record<string, unknown>>> = {
  login: {
    password: { identifier: { type: 'string' }, password: { type: 'string' }, password_identifier: { type: 'string' } },
    totp: { totp_code: { type: 'string' } },
    lookup_secret: { lookup_secret: { type: 'string' } },
    code: { identifier: { type: 'string' }, code: { type: 'string' }, resend: { type: 'string' }, address: { type: 'string' } },
    webauthn: { identifier: { type: 'string' }, webauthn_login: { type: 'string' } },
    passkey: { passkey_login: { type: 'string' } },
  },
  registration: {
    password: { traits, password: { type: 'string' } },
    profile: { traits, screen: { type: 'string' } },
    code: { traits, code: { type: 'string' }, resend: { type: 'string' } },
    webauthn: { traits, webauthn_register: { type: 'string' }, webauthn_register_displayname: { type: 'string' } },
    passkey: { traits, passkey_register: { type: 'string' } },
  },
  settings: {
    password: { password: { type: 'string' } },
    profile: { traits },
    totp: { totp_code: { type: 'string' }, totp_unlink: flag },
    lookup_secret: { lookup_secret_reveal: flag, lookup_secret_regenerate: flag, lookup_secret_confirm: flag, lookup_secret_disable: flag },
    webauthn: { webauthn_register: { type: 'string' }, webauthn_register_displayname: { type: 'string' }, webauthn_remove: { type: 'string' } },
    passkey: { passkey_register: { type: 'string' }, passkey_remove: { type: 'string' } },
  },
  recovery: {
    code: { email: { type: 'string' }, code: { type: 'string' } },
    link: { email: { type: 'string' } },
  },
  verification: {
    code: { email: { type: 'string' }, code: { type: 'string' } },
    link: { email: { type: 'string' } },
  },
};

/** The documented body of `POST /self-service/<flow>`: `oneOf` by `method`, each a permissive object. */
export function flowSubmissionSchema(flow: string): Record<string, unknown> {
  const methods = FLOW_METHOD_FIELDS[flow] ?? {};
  return {
    description:
      `Kratos update${flow[0]!.toUpperCase()}${flow.slice(1)}FlowBody, by method. Sent as JSON or as a form ` +
      '(application/x-www-form-urlencoded, nested fields flat: `traits.email`). Problems are answered inside the flow.',
    oneOf: Object.entries(methods).map(([method, fields]) => ({
      type: 'object',
      title: `${flow} with ${method}`,
      required: ['method'],
      properties: { method: { const: method }, csrf_token: csrfToken, transient_payload: transientPayload, ...fields },
      additionalProperties: true,
    })),
    discriminator: { propertyName: 'method' },
  };
}

/**
 * What a self-service submission is, as the handlers read it after `submittedBody` (flows/request.ts): an object
 * whose known fields are those above; every value is checked by the strategy that owns the `method`.
 */
export interface FlowSubmission {
  method?: unknown;
  csrf_token?: unknown;
  transient_payload?: unknown;
  [field: string]: unknown;
}

/**
 * A route's `validatorCompiler` for bodies that are documented but checked by the handler (self-service flows and
 * hosted-UI forms answer a bad submission inside the flow or page, never with Fastify's 400).
 */
export const docsOnly: FastifySchemaCompiler<unknown> = () => () => true;

// --- Validation errors ---------------------------------------------------------------------------------------------

interface AjvError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

const TYPE_NAMES: Record<string, string> = {
  object: 'a JSON object',
  array: 'an array',
  string: 'a string',
  boolean: 'a boolean',
  integer: 'an integer',
  number: 'a number',
  null: 'null',
};

/** `/identities/0/create/traits` → `identities[0].create.traits`. */
function fieldOf(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce((out, part) => (/^\d+$/.test(part) ? `${out}[${part}]` : out ? `${out}.${part}` : part), '');
}

/**
 * Fastify's FST_ERR_VALIDATION as Kratos's 400: message "The request was malformed or contained invalid parameters",
 * a reason naming the field (`state must be one of "active", "inactive"`), and `details.field`.
 */
export function validationError(error: FastifyError): HttpError {
  const first = (error.validation?.[0] ?? null) as AjvError | null;
  const part = (error as FastifyError & { validationContext?: string }).validationContext ?? 'body';
  if (!first) return errors.badRequest(`The request ${part} is invalid.`);
  const at = fieldOf(first.instancePath);
  const subject = at || (part === 'body' ? 'The request body' : `The ${part}`);
  let field = at;
  let reason: string;
  switch (first.keyword) {
    case 'required':
      field = at ? `${at}.${String(first.params.missingProperty)}` : String(first.params.missingProperty);
      reason = `${field} is required`;
      break;
    case 'additionalProperties':
      field = at ? `${at}.${String(first.params.additionalProperty)}` : String(first.params.additionalProperty);
      reason = `json: unknown field "${String(first.params.additionalProperty)}"${at ? ` in ${at}` : ''}`;
      break;
    case 'type': {
      const types = String(first.params.type).split(',');
      reason = `${subject} must be ${types.map((t) => TYPE_NAMES[t] ?? t).join(' or ')}`;
      break;
    }
    case 'enum':
      reason = `${subject} must be one of ${(first.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
      break;
    case 'const':
      reason = `${subject} must be ${JSON.stringify(first.params.allowedValue)}`;
      break;
    case 'format':
      reason = first.params.format === 'uuid' ? `${subject} must be a UUID` : `${subject} must be a valid ${String(first.params.format)}`;
      break;
    case 'maxLength':
      reason = `${subject} must be at most ${String(first.params.limit)} characters`;
      break;
    case 'minLength':
      reason = Number(first.params.limit) === 1 ? `${subject} must not be empty` : `${subject} must be at least ${String(first.params.limit)} characters`;
      break;
    default:
      reason = `${subject} ${first.message ?? 'is invalid'}`;
  }
  return errors.badRequest(reason, { field: field || null, location: part });
}
