import { sql } from 'kysely';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Deps } from '../../deps.js';
import type { SecretCipher } from '../../crypto/secret-cipher.js';
import type { CredentialAdapter } from '../../identity/credential-adapters.js';
import type { Credential, Identity } from '../../identity/identity.js';
import type { Db } from '../../identity/repository.js';
import type { KairosModule, ModuleContext } from '../../module.js';
import type { RecoveryCodesAtEnrollment } from '../totp/strategy.js';
import { errors, HttpError } from '../../errors/http-error.js';
import { escapeHtml } from '../../support/html.js';
import { noStore } from '../../http/request.js';
import { LANGUAGE_COOKIE, pickLanguage, translator, type Language } from '../../ui/i18n/catalogue.js';
import { hashCode, normalizeCode } from './codes.js';
import { LOOKUP_SECRET, LookupSecretStrategy, type TotpEnrollmentPort } from './strategy.js';
import type { RecoveryCodeEnrollment } from './enrollment.js';
import { lookupMsg } from './messages.js';

/** An imported credential the admin API rejects with 400 (the name is what identities.ts looks for). */
class CredentialImportError extends Error {
  override readonly name = 'CredentialImportError';
}

/** Kratos imports at most this many codes per identity in practice (12); Kairos accepts a generous bound. */
const MAX_IMPORTED_CODES = 64;

const iso = (ms: number) => new Date(ms).toISOString();

export interface LookupSecretModule extends KairosModule {
  strategy: LookupSecretStrategy;
  /** What TOTP enrollment calls when `require_recovery_codes` is on. */
  atEnrollment: RecoveryCodesAtEnrollment;
}

/**
 * Recovery codes as a Kairos module: login (aal2) and settings strategies, the `lookup_secret` admin adapter
 * (import, deletion, status-only config), the `recovery_codes` section of the admin MFA report, the remaining count
 * in session JSON (`kairos.recovery_codes_remaining`), and the .txt download / print page of a flow's new codes.
 */
export function lookupSecretModule(deps: Deps, enrollment: RecoveryCodeEnrollment, enrollments: readonly TotpEnrollmentPort[]): LookupSecretModule {
  const strategy = new LookupSecretStrategy(deps, enrollment, enrollments);
  const repository = strategy.repository;
  const hashSecret = () => deps.config.secrets.default[0]!;

  const atEnrollment: RecoveryCodesAtEnrollment = enrollment;

  const adapter: CredentialAdapter = {
    type: LOOKUP_SECRET,
    deletable: true,

    /**
     * `credentials.lookup_secret.config.codes: [{code, used_at?}]` at identity import (Kratos HEAD's format; the
     * stored form `recovery_codes` is accepted too, for Kratos exports). Codes are normalised and hashed like
     * generated ones; nothing is kept in clear. Errors name the position, never the code.
     */
    async importCredential(identity: Identity, config: Record<string, unknown>, trx: Db): Promise<void> {
      const list = config.codes ?? config.recovery_codes;
      if (!Array.isArray(list) || list.length === 0) throw new CredentialImportError('credentials.lookup_secret.config.codes must be a non-empty array of {code, used_at}');
      if (list.length > MAX_IMPORTED_CODES) throw new CredentialImportError(`credentials.lookup_secret.config.codes: at most ${MAX_IMPORTED_CODES} codes`);
      const credential = identity.credentials[LOOKUP_SECRET] ?? deps.identities.newCredential(LOOKUP_SECRET, {}, [identity.id]);
      const existing = identity.credentials[LOOKUP_SECRET] ? await repository.hashesOf(credential.id, trx) : new Set<string>();
      let position = identity.credentials[LOOKUP_SECRET] ? await repository.maxPosition(credential.id, trx) : 0;
      const rows = [];
      for (const [index, entry] of list.entries()) {
        const code = typeof entry === 'string' ? entry : typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>).code : undefined;
        const normalized = typeof code === 'string' ? normalizeCode(code) : null;
        if (!normalized) throw new CredentialImportError(`credentials.lookup_secret.config.codes[${index}].code is not a valid code`);
        const usedAtRaw = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>).used_at : null;
        let usedAtMs: number | null = null;
        if (usedAtRaw !== null && usedAtRaw !== undefined && usedAtRaw !== '') {
          usedAtMs = typeof usedAtRaw === 'string' ? Date.parse(usedAtRaw) : NaN;
          if (!Number.isFinite(usedAtMs)) throw new CredentialImportError(`credentials.lookup_secret.config.codes[${index}].used_at must be an RFC 3339 time or null`);
        }
        const codeHash = hashCode(hashSecret(), identity.id, normalized);
        if (existing.has(codeHash)) continue;
        existing.add(codeHash);
        rows.push({ id: deps.random.uuid(), position: ++position, codeHash, usedAtMs });
      }
      if (!identity.credentials[LOOKUP_SECRET]) {
        await deps.identities.saveCredential(identity.id, credential, trx);
        identity.credentials[LOOKUP_SECRET] = credential;
      }
      await repository.insertCodes(credential.id, identity.id, rows, deps.clock.nowMs(), trx);
      await deps.audit.record(trx, { type: 'recovery_codes.generated', identityId: identity.id, actor: 'admin', details: { count: rows.length, context: 'import' } });
    },

    /** Kratos returns the codes in clear here; Kairos has only hashes, so it returns each code's status. */
    async adminConfig(credential: Credential): Promise<Record<string, unknown>> {
      const statuses = await repository.statuses(credential.id);
      return { recovery_codes: statuses.map((s) => ({ position: s.position, used_at: s.usedAtMs === null ? null : iso(s.usedAtMs) })) };
    },
  };

  /** The pending codes of a settings flow, for the session that owns it; 404 for anyone else. */
  async function ownedPendingCodes(context: ModuleContext, request: FastifyRequest): Promise<{ codes: string[]; identity: Identity; flowId: string }> {
    const flowId = (request.query as Record<string, unknown>).flow;
    const flow = typeof flowId === 'string' ? await deps.flows.get(flowId) : null;
    const current = await context.engine.currentSession(request);
    if (!current) throw errors.sessionInactive();
    if (!flow || flow.kind !== 'settings' || flow.identityId !== current.identity.id || context.engine.isExpired(flow)) {
      throw errors.notFound('There are no new backup recovery codes for this flow.');
    }
    const codes = strategy.pendingCodes(flow);
    if (!codes) throw errors.notFound('There are no new backup recovery codes for this flow.');
    return { codes, identity: current.identity, flowId: flow.id };
  }

  const accountOf = (identity: Identity) => deps.identities.facts(identity).totpAccountName ?? identity.id;

  async function sendError(reply: FastifyReply, err: unknown): Promise<FastifyReply> {
    if (err instanceof HttpError) return reply.code(err.status).send(err.toJSON());
    throw err;
  }

  return {
    name: LOOKUP_SECRET,
    strategy,
    atEnrollment,
    strategies: { login: [strategy], settings: [strategy] },
    adapters: [adapter],
    secondFactorTypes: [LOOKUP_SECRET],

    init({ engine }) {
      engine.nodeRevealers.push((flow, nodes) => strategy.revealNodes(flow, nodes));
      // `kairos.recovery_codes_remaining` in whoami (and every session JSON built through the engine).
      // Loaded by the session's own statement (whoami in one query); read separately only when a caller has no facts.
      engine.sessionFacts.push({ name: 'lookup_secret_codes', expression: (dialect) => remainingCodesFact(dialect) });
      engine.sessionExtraProviders.push(async (identityId, facts) => {
        const fact = facts?.lookup_secret_codes;
        const { total, remaining } = fact !== undefined ? parseRemainingCodesFact(fact) : await repository.remaining(identityId);
        return total > 0 ? { recovery_codes_remaining: remaining } : {};
      });
    },

    publicRoutes(app: FastifyInstance, context: ModuleContext) {
      const brand = deps.config.ui.brand.name;
      /**
       * The new codes of a settings flow, for its owner only, while they wait for confirmation. Both answers are
       * `no-store` (no browser or proxy keeps a copy), never logged (only the flow id is in the URL), and carry no
       * referrer onwards; they are in the reader's language.
       */
      const secretResponse = (reply: FastifyReply) =>
        noStore(reply).header('pragma', 'no-cache').header('referrer-policy', 'no-referrer').header('x-robots-tag', 'noindex, nofollow').header('x-content-type-options', 'nosniff');
      const languages = deps.config.ui.languages as Language[];
      /** The reader's language, as the hosted UI picks it (its switcher's cookie, then Accept-Language). */
      const readerOf = (request: FastifyRequest) =>
        translator(pickLanguage(languages, { cookie: request.cookies?.[LANGUAGE_COOKIE], acceptLanguage: request.headers['accept-language'] }));
      app.get('/self-service/settings/lookup_secret/codes.txt', async (request, reply) => {
        try {
          const { codes, identity } = await ownedPendingCodes(context, request);
          const t = readerOf(request);
          const text = [
            t.t('codes.file.title', { brand }),
            t.t('print.account', { account: accountOf(identity) }),
            t.t('print.generated', { at: new Date(deps.clock.nowMs()) }),
            '',
            t.t('print.keep'),
            '',
            ...codes.map((code, i) => `${String(i + 1).padStart(2, ' ')}. ${code}`),
            '',
          ].join('\n');
          return secretResponse(reply)
            .header('content-type', 'text/plain; charset=utf-8')
            .header('content-disposition', 'attachment; filename="recovery-codes.txt"')
            .send(text);
        } catch (err) {
          return sendError(reply, err);
        }
      });
      // A page made for paper: the codes large and numbered, the account and date, what to do with the sheet; the
      // page's header, footer and buttons are not printed (layout.ts print styles).
      app.get('/self-service/settings/lookup_secret/print', async (request, reply) => {
        try {
          const { codes, identity, flowId } = await ownedPendingCodes(context, request);
          const t = readerOf(request);
          const title = t.t('codes.file.title', { brand });
          const items = codes.map((code) => `<li><code>${escapeHtml(code)}</code></li>`).join('');
          // A sheet for paper, standalone (no site header or scripts): the codes large and numbered, the account and
          // date, what to do with it; the hint and the link back are not printed.
          const html =
            `<!doctype html><html lang="${t.language}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="color-scheme" content="light"><title>${escapeHtml(title)}</title>` +
            `<style>body{font:16px/1.5 system-ui,sans-serif;color:#111;background:#fff;max-width:36rem;margin:2rem auto;padding:0 1rem}h1{font-size:1.4rem}ol{columns:2;column-gap:2rem;padding-left:1.6rem;font:1.15rem/2 ui-monospace,SFMono-Regular,Menlo,monospace}.help{color:#333}a{color:#1a4fa0}@media print{.no-print{display:none}body{margin:0}}</style></head>` +
            `<body><main><h1>${escapeHtml(title)}</h1>` +
            `<p>${escapeHtml(t.t('print.account', { account: accountOf(identity) }))}<br>${escapeHtml(t.t('print.generated', { at: new Date(deps.clock.nowMs()) }))}</p>` +
            `<p class="help">${escapeHtml(t.t('print.keep'))}</p>` +
            `<ol data-testid="lookup_secret_codes">${items}</ol>` +
            `<p class="help no-print" data-testid="print/next">${escapeHtml(t.t('print.next'))}</p>` +
            `<p class="no-print"><a href="${escapeHtml(deps.urls.flowUi('settings', flowId))}" data-testid="print/back">${escapeHtml(t.t('print.back'))}</a></p></main></body></html>`;
          return secretResponse(reply).header('content-type', 'text/html; charset=utf-8').header('content-language', t.language).send(html);
        } catch (err) {
          return sendError(reply, err);
        }
      });
    },

    /** The `recovery_codes` section of GET /admin/identities/{id}/mfa: counts and use times, never a code. */
    async mfaReport(identity: Identity) {
      const credential = identity.credentials[LOOKUP_SECRET];
      if (!credential) return null;
      const statuses = await repository.statuses(credential.id);
      const used = statuses.filter((s) => s.usedAtMs !== null);
      return {
        recovery_codes: {
          total: statuses.length,
          remaining: statuses.length - used.length,
          created_at: iso(credential.createdAtMs),
          used: used.map((s) => ({ position: s.position, used_at: iso(s.usedAtMs!) })),
        },
      };
    },
  };
}

/** `[total, remaining]` recovery codes of the identity `i.id`, as one scalar (a session fact). */
function remainingCodesFact(dialect: 'sqlite' | 'postgres') {
  return dialect === 'postgres'
    ? sql<unknown>`(select json_build_array(count(*), count(*) filter (where l.used_at is null)) from lookup_secret_codes l where l.identity_id = i.id)`
    : sql<unknown>`(select json_array(count(*), count(*) filter (where l.used_at is null)) from lookup_secret_codes l where l.identity_id = i.id)`;
}

function parseRemainingCodesFact(value: unknown): { total: number; remaining: number } {
  const [total, remaining] = (typeof value === 'string' ? JSON.parse(value) : value) as [number, number];
  return { total: Number(total), remaining: Number(remaining) };
}
