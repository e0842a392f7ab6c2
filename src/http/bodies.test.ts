/**
 * The hand-written body types and their JSON Schemas stay in step: a sample of each type (checked by the compiler)
 * validates against its schema with the options Fastify's ajv runs with (server.ts), and a sample with one field of
 * the wrong type does not. `validationError` names the field in Kratos's 400.
 */
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyError } from 'fastify';
import {
  batchPatchIdentitiesBodySchema,
  createIdentityBodySchema,
  createRecoveryCodeBodySchema,
  createRecoveryLinkBodySchema,
  deleteCredentialBodySchema,
  flowSubmissionSchema,
  jsonPatchBodySchema,
  mfaUnlockBodySchema,
  nativeLogoutBodySchema,
  updateIdentityBodySchema,
  validationError,
  type BatchPatchIdentitiesBody,
  type CreateIdentityBody,
  type CreateRecoveryCodeBody,
  type CreateRecoveryLinkBody,
  type DeleteCredentialBody,
  type JsonPatchBody,
  type MfaUnlockBody,
  type NativeLogoutBody,
  type UpdateIdentityBody,
} from './bodies.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false, strict: false }));

const create: CreateIdentityBody = {
  schema_id: 'default',
  traits: { email: 'a@example.com' },
  state: 'active',
  metadata_public: { plan: 'pro' },
  metadata_admin: null,
  external_id: 'ext-1',
  credentials: { password: { config: { hashed_password: '$argon2id$…' } }, totp: { config: { totp_url: 'otpauth://totp/x?secret=AAAA' } } },
  verifiable_addresses: [{ value: 'a@example.com', verified: true, via: 'email', status: 'completed' }],
  recovery_addresses: [{ value: 'a@example.com', via: 'email' }],
  organization_id: null,
};
const update: UpdateIdentityBody = { state: 'inactive', traits: { email: 'b@example.com' }, schema_id: 'default', external_id: null };
const patch: JsonPatchBody = [{ op: 'replace', path: '/state', value: 'inactive' }, { op: 'move', from: '/traits/a', path: '/traits/b' }];
const batch: BatchPatchIdentitiesBody = { identities: [{ create, patch_id: '5f6a9c3e-8f1b-4c2d-9e7a-1b2c3d4e5f60' }, {}] };
const unlock: MfaUnlockBody[] = [null, {}, { reason: 'ticket 42' }, { reason: null }];
const deleteCredential: DeleteCredentialBody[] = [null, {}, { reason: 'lost phone' }];
const recoveryCode: CreateRecoveryCodeBody = { identity_id: '5f6a9c3e-8f1b-4c2d-9e7a-1b2c3d4e5f60', expires_in: '15m', flow_type: 'api', reason: 'call' };
const recoveryLink: CreateRecoveryLinkBody = { identity_id: '5f6a9c3e-8f1b-4c2d-9e7a-1b2c3d4e5f60', expires_in: '1h' };
const logout: NativeLogoutBody = { session_token: 'ory_st_abc' };

const cases: { name: string; schema: object; valid: unknown[]; invalid: [unknown, string][] }[] = [
  {
    name: 'createIdentityBody',
    schema: createIdentityBodySchema,
    valid: [create, {}],
    invalid: [[{ ...create, traits: 'x' }, '/traits'], [{ ...create, state: 'gone' }, '/state'], [{ ...create, credentials: { password: {} } }, '/credentials/password'], [{ ...create, verifiable_addresses: [{ value: 1 }] }, '/verifiable_addresses/0/value']],
  },
  { name: 'updateIdentityBody', schema: updateIdentityBodySchema, valid: [update], invalid: [[{ traits: {} }, ''], [{ ...update, schema_id: 1 }, '/schema_id']] },
  { name: 'jsonPatch', schema: jsonPatchBodySchema, valid: [patch, []], invalid: [[{ op: 'add' }, ''], [[{ op: 'add', path: '/x', extra: 1 }], '/0']] },
  { name: 'patchIdentitiesBody', schema: batchPatchIdentitiesBodySchema, valid: [batch], invalid: [[{ identities: [{ create, patch_id: 'x' }] }, '/identities/0/patch_id'], [{ identities: [], more: 1 }, '']] },
  { name: 'mfaUnlockBody', schema: mfaUnlockBodySchema, valid: unlock, invalid: [[{ reason: 1 }, '/reason'], [[], '']] },
  { name: 'deleteCredentialBody', schema: deleteCredentialBodySchema, valid: deleteCredential, invalid: [[{ reason: false }, '/reason']] },
  { name: 'createRecoveryCodeBody', schema: createRecoveryCodeBodySchema, valid: [recoveryCode], invalid: [[{ ...recoveryCode, flow_type: 'native' }, '/flow_type'], [{}, '']] },
  { name: 'createRecoveryLinkBody', schema: createRecoveryLinkBodySchema, valid: [recoveryLink], invalid: [[{ identity_id: 1 }, '/identity_id']] },
  { name: 'performNativeLogoutBody', schema: nativeLogoutBodySchema, valid: [logout], invalid: [[{ session_token: '' }, '/session_token'], [{ session_token: 1 }, '/session_token']] },
];

describe('request body schemas and their types', () => {
  for (const { name, schema, valid, invalid } of cases) {
    it(`${name}: samples of the type validate, a wrong-typed field does not`, () => {
      const validate = ajv.compile(schema);
      for (const sample of valid) expect(validate(sample), `${JSON.stringify(sample)}: ${JSON.stringify(validate.errors)}`).toBe(true);
      for (const [sample, at] of invalid) {
        expect(validate(sample), JSON.stringify(sample)).toBe(false);
        expect(validate.errors![0]!.instancePath).toBe(at);
      }
    });
  }

  it('values are never coerced: "true", 1 and ["x"] stay what they are', () => {
    const validate = ajv.compile(createIdentityBodySchema);
    const body = { verifiable_addresses: [{ value: 'a@example.com', verified: 'true' }], schema_id: 1 };
    expect(validate(body)).toBe(false);
    expect(body.verifiable_addresses[0]!.verified).toBe('true');
  });

  it('flow submissions are documented by method with the known fields of each', () => {
    const login = flowSubmissionSchema('login') as { oneOf: { properties: Record<string, unknown> }[] };
    expect(login.oneOf.map((m) => (m.properties.method as { const: string }).const)).toEqual(['password', 'totp', 'lookup_secret', 'code', 'webauthn', 'passkey']);
    const settings = flowSubmissionSchema('settings') as { oneOf: { properties: Record<string, unknown> }[] };
    expect(settings.oneOf.find((m) => (m.properties.method as { const: string }).const === 'totp')!.properties).toHaveProperty('totp_unlink');
  });

  it('validationError: Kratos 400 naming the field, for each kind of problem', () => {
    const reasonOf = (schema: object, body: unknown) => {
      const validate = ajv.compile(schema);
      expect(validate(body)).toBe(false);
      const err = validationError(Object.assign(new Error('x'), { code: 'FST_ERR_VALIDATION', validation: validate.errors, validationContext: 'body' }) as unknown as FastifyError);
      expect(err.status).toBe(400);
      expect(err.body).toMatchObject({ code: 400, status: 'Bad Request', message: 'The request was malformed or contained invalid parameters' });
      return [err.body.reason, (err.body.details as { field: string | null }).field];
    };
    expect(reasonOf(updateIdentityBodySchema, {})).toEqual(['state is required', 'state']);
    expect(reasonOf(updateIdentityBodySchema, { state: 'x' })).toEqual(['state must be one of "active", "inactive"', 'state']);
    expect(reasonOf(batchPatchIdentitiesBodySchema, { identities: [{ nope: 1 }] })).toEqual(['json: unknown field "nope" in identities[0]', 'identities[0].nope']);
    expect(reasonOf(batchPatchIdentitiesBodySchema, { identities: [{ patch_id: 'x' }] })).toEqual(['identities[0].patch_id must be a UUID', 'identities[0].patch_id']);
    expect(reasonOf(jsonPatchBodySchema, {})).toEqual(['The request body must be an array', null]);
    expect(reasonOf(mfaUnlockBodySchema, { reason: 'x'.repeat(1001) })).toEqual(['reason must be at most 1000 characters', 'reason']);
  });
});
