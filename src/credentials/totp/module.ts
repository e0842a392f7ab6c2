import type { Deps } from '../../deps.js';
import type { SecretCipher } from '../../crypto/secret-cipher.js';
import type { CredentialAdapter } from '../../identity/credential-adapters.js';
import type { Credential, Identity } from '../../identity/identity.js';
import type { Db } from '../../identity/repository.js';
import type { KairosModule } from '../../module.js';
import { buildOtpauthUrl, parseOtpauthUrl } from './otpauth-url.js';
import { TotpRepository } from './repository.js';
import { TOTP, TotpStrategy, type RecoveryCodesAtEnrollment } from './strategy.js';
import { TotpDiagnostics } from '../../mfa/diagnosis/totp-diagnostics.js';
import { buildTotpReport } from '../../mfa/diagnosis/report.js';

/** An imported credential the admin API rejects with 400 (the name is what identities.ts looks for). */
class CredentialImportError extends Error {
  override readonly name = 'CredentialImportError';
}

/** Shown instead of the Key URI unless `identity.credentials.totp.expose_secret_to_admin` is true. */
export const REDACTED = '[redacted]';

/** TOTP as a Kairos module: login (aal2) and settings strategies, and the admin API's `totp` credential adapter. */
export function totpModule(deps: Deps, cipher: SecretCipher, recoveryCodes: RecoveryCodesAtEnrollment | null = null): KairosModule & { strategy: TotpStrategy } {
  const diagnostics = new TotpDiagnostics(deps, cipher);
  const strategy = new TotpStrategy(deps, cipher, diagnostics, recoveryCodes);
  const repository = new TotpRepository(deps.db);
  // A removed or replaced TOTP secret is kept (encrypted) for the diagnosis of codes from the old app entry.
  deps.identities.credentialRetirementHooks.push(async ({ identityId, type, keepCredentialId }, trx) => {
    if (type !== TOTP) return;
    for (const row of await repository.findByIdentityId(identityId, trx)) {
      if (row.credentialId !== keepCredentialId) await diagnostics.retire(row, trx);
    }
  });

  const adapter: CredentialAdapter = {
    type: TOTP,
    deletable: true,

    /**
     * `credentials.totp.config.totp_url` at identity import (Kratos's format). The URL's own algorithm, digits and
     * period are kept (Kratos ignores them and can never verify an imported SHA256 or 8-digit key); the secret is
     * encrypted like an enrolled one. Errors never quote the URL.
     */
    async importCredential(identity: Identity, config: Record<string, unknown>, trx: Db): Promise<void> {
      const url = config.totp_url;
      if (typeof url !== 'string') throw new CredentialImportError('credentials.totp.config.totp_url must be an otpauth:// URL');
      let parts: ReturnType<typeof parseOtpauthUrl>;
      try {
        parts = parseOtpauthUrl(url);
      } catch (err) {
        throw new CredentialImportError(`credentials.totp.config.totp_url: ${(err as Error).message}`);
      }
      const credential = deps.identities.newCredential(TOTP, {}, [identity.id]);
      await deps.identities.saveCredential(identity.id, credential, trx);
      await repository.insert(
        {
          credentialId: credential.id,
          identityId: identity.id,
          secretCiphertext: cipher.encrypt(parts.secret, credential.id),
          parameters: parts.parameters,
          issuer: parts.issuer,
          accountName: parts.accountName,
          lastUsedStep: null,
          createdAtMs: deps.clock.nowMs(),
        },
        trx,
      );
      identity.credentials[TOTP] = credential;
    },

    async adminConfig(credential: Credential): Promise<Record<string, unknown>> {
      if (!deps.config.identity.credentials.totp.expose_secret_to_admin) return { totp_url: REDACTED };
      const row = await repository.findByCredentialId(credential.id);
      if (!row) return {};
      const secret = cipher.decrypt(row.secretCiphertext, row.credentialId);
      return { totp_url: buildOtpauthUrl({ issuer: row.issuer ?? '', accountName: row.accountName, secret, parameters: row.parameters }) };
    },
  };

  return {
    name: TOTP,
    strategy,
    strategies: { login: [strategy], settings: [strategy] },
    maintenance: [{ name: 'totp_previous_secrets', run: () => diagnostics.purgeExpired() }],
    adapters: [adapter],
    secondFactorTypes: [TOTP],
    async init({ engine }) {
      engine.nodeRevealers.push((flow, nodes) => strategy.revealNodes(flow, nodes));
      await diagnostics.restore();
    },
    /**
     * The `totp` section of the admin MFA view: the credential's own parameters (never its secret) and the diagnosis
     * view (mfa/diagnosis): drift, whether the issuer changed since enrollment, previous secrets (dates only) and the
     * recent rejection causes. After an unlink, the previous secrets and rejections still show (`enrolled: false`).
     */
    async mfaReport(identity: Identity) {
      const credential = identity.credentials[TOTP];
      const row = credential ? await repository.findByCredentialId(credential.id) : null;
      const previous = await diagnostics.repository.previousSecrets(identity.id, deps.clock.nowMs() - diagnostics.retentionMs);
      const rejections = await diagnostics.recentRejections(identity.id);
      if (!row) {
        if (!previous.length && !rejections.length) return null;
        const previousSecrets = previous.map((p) => ({ enrolled_at: new Date(p.enrolledAtMs).toISOString(), retired_at: new Date(p.retiredAtMs).toISOString() }));
        return { [TOTP]: { enrolled: false, previous_secrets: previousSecrets, recent_rejections: [] } };
      }
      return {
        [TOTP]: {
          enrolled: true,
          ...buildTotpReport({ row, previous, rejections, currentIssuer: diagnostics.currentIssuer }),
          // RFC 6238: step S starts at S · period seconds (T0 = 0).
          last_used_at: row.lastUsedStep === null ? null : new Date(row.lastUsedStep * row.parameters.periodSeconds * 1000).toISOString(),
        },
      };
    },
    health: () => ({ population_drift: diagnostics.health() }),
  };
}
