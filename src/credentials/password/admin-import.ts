/**
 * The password's part of the admin API (identity/credential-adapters.ts): imported passwords, plain or hashed, and
 * the rule that the last first factor cannot be deleted.
 */
import type { Deps } from '../../deps.js';
import { errors } from '../../errors/http-error.js';
import type { CredentialAdapter } from '../../identity/credential-adapters.js';
import type { Credential, Identity } from '../../identity/identity.js';
import { BCRYPT_MAX_PASSWORD_BYTES, PasswordHasher } from './hasher.js';
import { checkPassword } from './policy.js';

type PasswordImportDeps = Pick<Deps, 'config' | 'identities' | 'hasher' | 'clock'>;

export function passwordCredentialAdapter(deps: PasswordImportDeps): CredentialAdapter {
  return {
    type: 'password',
    firstFactor: true,
    prepareImport: (identity, config) => importPassword(deps, identity, config),
  };
}

/** `credentials.password.config`: `{password}` (hashed now) or `{hashed_password}` (argon2 or bcrypt, kept as is). */
async function importPassword(deps: PasswordImportDeps, identity: Identity, config: Record<string, unknown>): Promise<Credential> {
  const facts = deps.identities.facts(identity);
  let hashed: string;
  if (typeof config.hashed_password === 'string') {
    if (!PasswordHasher.isSupportedHash(config.hashed_password)) throw errors.badRequest('credentials.password.config.hashed_password: unsupported hash format (argon2 and bcrypt are supported)');
    hashed = config.hashed_password;
  } else if (typeof config.password === 'string') {
    const c = deps.config.selfservice.methods.password.config;
    const maxBytes = deps.config.hashers.algorithm === 'bcrypt' ? BCRYPT_MAX_PASSWORD_BYTES : undefined;
    const problem = checkPassword(config.password, [], { minLength: 1, maxLength: c.max_password_length, maxBytes, identifierSimilarityCheck: false });
    if (problem) throw errors.badRequest(`credentials.password.config.password: ${problem.text}`);
    hashed = await deps.hasher.hash(config.password);
  } else {
    throw errors.badRequest('credentials.password.config needs password or hashed_password');
  }
  const existing = identity.credentials.password;
  const credential = existing ?? deps.identities.newCredential('password', {}, facts.passwordIdentifiers);
  credential.config = { hashed_password: hashed };
  credential.identifiers = facts.passwordIdentifiers;
  credential.updatedAtMs = deps.clock.nowMs();
  return credential;
}
