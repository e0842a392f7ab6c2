/**
 * The console's form bodies, documented in the admin listener's /openapi.json. Documented only (`docsOnly`, as the
 * hosted UI's forms): the console answers a bad form on its own page, after checking the operator, their role and
 * the CSRF token, so an unauthenticated request learns nothing from a validation error.
 */
import { docsOnly } from '../http/bodies.js';

const text = (description: string) => ({ type: 'string', description }) as const;
const csrf = text('The console session\'s CSRF token (from the page)');
const reason = text('Why (required; at most 1000 characters; recorded in the audit trail)');

const form = (properties: Record<string, unknown>) => ({
  schema: { body: { type: 'object', properties: { csrf_token: csrf, ...properties }, additionalProperties: true }, consumes: ['application/x-www-form-urlencoded'] },
  validatorCompiler: docsOnly,
});

const checklist = {
  description: 'Verification evidence checked: callback, id_document, manager, known_facts, ticket (repeat the field)',
  anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
};

export const CONSOLE_FORMS = {
  signOut: form({}),
  diagnose: form({ reason, code: text('The code the user reads out (never stored or logged)') }),
  resync: form({ reason, code1: text('First code'), code2: text('The next code') }),
  plain: form({ reason }),
  mfaReset: form({ reason, delay: { type: 'string', enum: ['yes', 'no'], description: 'yes: after the waiting period; no: now' }, checklist }),
  recovery: form({ reason, kind: { type: 'string', enum: ['code', 'link'] }, checklist }),
  decision: form({ reason, decision: { type: 'string', enum: ['approve', 'reject'] } }),
};
