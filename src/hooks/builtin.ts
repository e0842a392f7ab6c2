/**
 * Kratos's built-in hooks as executors of the hook registry (flows/hooks.ts), learnt from ory/kratos
 * selfservice/hook/{session_issuer,show_verification_ui,session_destroyer,require_verified_address}.go.
 */
import type { Deps } from '../deps.js';
import { HttpError } from '../errors/http-error.js';
import { FlowValidationError } from '../flows/flow.js';
import type { HookExecutor, StartVerification } from '../flows/hooks.js';
import { msg } from '../ui/messages.js';

/** `session`: the registration issues a session (cookie for browsers, token for API clients). Kratos runs it last. */
export function sessionHook(deps: Pick<Deps, 'sessions'>): HookExecutor {
  return {
    name: 'session',
    async inStep(context) {
      if (context.state.session) return;
      const ip = context.request.ip;
      const userAgent = context.request.headers['user-agent'] ?? null;
      const { session, token } = await deps.sessions.create(context.trx, context.identity.id, context.amr, { ipAddress: ip, userAgent: typeof userAgent === 'string' ? userAgent : null });
      context.state.session = session;
      context.state.token = token;
    },
  };
}

/**
 * `show_verification_ui`: a browser (HTML) that just registered goes to the verification flow started for its new
 * address instead of the return URL. JSON clients find that flow in `continue_with` whether or not the hook is
 * configured. After login and settings Kratos finds no verification flow to show there and does nothing; so does
 * Kairos.
 */
export function showVerificationUiHook(): HookExecutor {
  return {
    name: 'show_verification_ui',
    async inStep(context) {
      if (context.kind !== 'registration' || context.flow.type !== 'browser' || context.hookRequest.json) return;
      const item = context.state.continueWith.find((c) => c.action === 'show_verification_ui') as { flow?: { url?: unknown } } | undefined;
      if (typeof item?.flow?.url === 'string') context.state.browserRedirect = item.flow.url;
    },
  };
}

/**
 * `revoke_active_sessions`: every other session of the identity ends (Kratos `RevokeSessionsIdentityExcept`), in
 * the step's unit of work, so the step and the revocation commit together. Audited as `session.revoked`.
 */
export function revokeActiveSessionsHook(deps: Pick<Deps, 'sessions' | 'audit'>): HookExecutor {
  return {
    name: 'revoke_active_sessions',
    async inStep(context) {
      const keep = context.state.session?.id ?? context.flow.sessionId ?? undefined;
      const count = await deps.sessions.revokeAllForIdentity(context.identity.id, keep, context.trx);
      if (count > 0) {
        await deps.audit.record(context.trx, {
          type: 'session.revoked',
          identityId: context.identity.id,
          sessionId: keep ?? null,
          flowId: context.flow.id,
          actor: 'self',
          ipAddress: context.request.ip,
          details: { via: `${context.kind}_hook`, scope: 'others', count },
        });
      }
    },
  };
}

/**
 * `require_verified_address` (login): an identity none of whose verifiable addresses is verified does not get a
 * session. As Kratos today: a verification flow is started for its first address and the code mailed; JSON clients
 * get 403 `session_verified_address_required` with `continue_with: [show_verification_ui]` in the details, browsers
 * a 303 to the verification page. With `feature_flags.legacy_require_verified_login_error` (or without the
 * verification flow), the login flow answers 400 with Kratos's message 4000010 instead, as older Kratos did
 * (legacy: only after the password method). An identity without any verifiable address cannot log in (Kratos's
 * misconfiguration error).
 */
export function requireVerifiedAddressHook(deps: Pick<Deps, 'config' | 'urls'>, startVerification: () => StartVerification | null): HookExecutor {
  return {
    name: 'require_verified_address',
    async inStep(context) {
      const legacy = deps.config.feature_flags.legacy_require_verified_login_error === true;
      if (legacy && context.method !== 'password') return;
      const addresses = context.identity.verifiableAddresses;
      if (addresses.length === 0) {
        throw new HttpError(500, {
          code: 500,
          status: 'Internal Server Error',
          reason: 'A misconfiguration prevents login. Expected to find a verification address but this identity does not have one assigned.',
          message: 'The request could not be processed because the server is misconfigured.',
        });
      }
      if (addresses.some((a) => a.verified)) return;
      const start = startVerification();
      const address = addresses.find((a) => a.value !== '');
      if (legacy || !start || !address) throw FlowValidationError.global(msg.addressNotVerified());
      const verification = await start({ context, address: address.value });
      const continueWith = { action: 'show_verification_ui', flow: { id: verification.id, verifiable_address: address.value, url: verification.url } };
      throw new HttpError(
        403,
        {
          id: 'session_verified_address_required',
          code: 403,
          status: 'Forbidden',
          reason: "Your account's email or phone address are not verified yet. Please check your email or phone inbox or re-request verification.",
          message: 'your email or phone address is not yet verified',
          details: { continue_with: [continueWith] },
        },
        { redirect_browser_to: verification.url },
      );
    },
  };
}
