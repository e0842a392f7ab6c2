/**
 * Errors that leave Kairos as Kratos's error envelope (herodot):
 * `{"error":{"id","code","status","reason","message","details"}}` plus optional siblings such as
 * `redirect_browser_to` or `use_flow_id`. Form validation errors are not these: they go into the flow's UI.
 */
export interface ErrorBody {
  id?: string;
  code: number;
  status: string;
  reason?: string;
  message: string;
  details?: Record<string, unknown>;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
    /** Siblings of `error` in the envelope (Kratos puts `redirect_browser_to` there too). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(body.reason ?? body.message);
  }

  toJSON(): Record<string, unknown> {
    return { error: this.body, ...this.extra };
  }
}

function make(
  status: number,
  message: string,
  options: { id?: string; reason?: string; details?: Record<string, unknown>; extra?: Record<string, unknown> } = {},
): HttpError {
  const body: ErrorBody = { code: status, status: STATUS_TEXT[status] ?? 'Error', message };
  if (options.id) body.id = options.id;
  if (options.reason) body.reason = options.reason;
  if (options.details) body.details = options.details;
  return new HttpError(status, body, options.extra);
}

/** The catalogue: one constructor per error Kairos returns, ids as in Kratos's `text/message_error.go`. */
export const errors = {
  badRequest: (reason: string, details?: Record<string, unknown>) =>
    make(400, 'The request was malformed or contained invalid parameters', { reason, details }),
  unauthorized: (reason: string) => make(401, 'The request could not be authorized', { reason }),
  forbidden: (reason: string) => make(403, 'The requested action was forbidden', { reason }),
  notFound: (reason = 'The requested resource could not be found') =>
    make(404, 'The requested resource could not be found', { reason }),
  conflict: (reason: string) => make(409, 'The resource could not be created due to a conflict', { reason }),
  payloadTooLarge: (reason: string) => make(413, 'The request body is too large', { reason }),
  unsupportedMediaType: (reason: string) => make(415, 'The request content type is not supported', { reason }),
  tooManyRequests: (reason: string, retryAfterSeconds?: number) =>
    make(429, 'Too many requests', {
      id: 'rate_limit_exceeded',
      reason,
      details: retryAfterSeconds !== undefined ? { retry_after_seconds: retryAfterSeconds } : undefined,
    }),
  internal: () => make(500, 'An internal server error occurred, please contact the system administrator'),
  notReady: (reason: string) => make(503, 'The service is not ready', { reason }),
  /** Something every answer depends on (the rate-limit store) cannot be reached; the request did nothing. */
  temporarilyUnavailable: (reason: string) => make(503, 'The service is temporarily unavailable, please retry later', { reason }),

  csrfViolation: () =>
    make(403, 'the request was rejected to protect you from Cross-Site-Request-Forgery', {
      id: 'security_csrf_violation',
      reason:
        'Please retry the flow and optionally clear your cookies. The request was rejected to protect you from Cross-Site-Request-Forgery (CSRF) which could cause account takeover, leaking personal information, and other serious security issues.',
    }),
  identityMismatch: (reason = 'The flow belongs to another identity.') =>
    make(403, 'Requested identity mismatch', { id: 'security_identity_mismatch', reason }),
  flowExpired: (flowKind: string, useFlowId: string | null, expiredAtMs: number, sinceMs: number) =>
    make(410, 'Self-service flow expired', {
      id: 'self_service_flow_expired',
      reason: `The ${flowKind} flow has expired. Please retry the flow.`,
      details: { ...(useFlowId ? { use_flow_id: useFlowId } : {}), expired_at: new Date(expiredAtMs).toISOString() },
      extra: {
        ...(useFlowId ? { use_flow_id: useFlowId } : {}),
        expired_at: new Date(expiredAtMs).toISOString(),
        since: sinceMs * 1_000_000,
      },
    }),
  flowDisabled: (flowKind: string) =>
    make(400, 'Self-service flow disabled', {
      id: 'self_service_flow_disabled',
      reason: `The ${flowKind} flow is disabled.`,
    }),
  flowTypeMismatch: (expected: string) =>
    make(400, 'The request was malformed or contained invalid parameters', {
      reason: `The flow is not a ${expected} flow.`,
    }),
  sessionAlreadyAvailable: () =>
    make(400, 'A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?', {
      id: 'session_already_available',
      reason: 'A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?',
    }),
  sessionInactive: () =>
    make(401, 'No active session was found in this request.', {
      id: 'session_inactive',
      reason: 'No active session was found in this request.',
    }),
  sessionAal1Required: (redirectTo: string) =>
    make(401, 'You can not requested a higher AAL (AAL2/AAL3) without an active session.', {
      id: 'session_aal1_required',
      reason: 'You have to authenticate with a first factor before you can request a higher AAL.',
      details: { redirect_to: redirectTo },
      extra: { redirect_browser_to: redirectTo },
    }),
  sessionAal2Required: (redirectTo: string) =>
    make(403, 'Session does not fulfill the requested Authenticator Assurance Level', {
      id: 'session_aal2_required',
      reason:
        'An active session was found but it does not fulfill the requested Authenticator Assurance Level. Please verify yourself with a second factor to resolve this issue.',
      details: { redirect_browser_to: redirectTo },
      extra: { redirect_browser_to: redirectTo },
    }),
  sessionRefreshRequired: (redirectTo: string) =>
    make(403, 'The login session is too old and thus not allowed to update these fields. Please re-authenticate.', {
      id: 'session_refresh_required',
      reason: 'The login session is too old and thus not allowed to update these fields. Please re-authenticate.',
      details: { redirect_browser_to: redirectTo },
      extra: { redirect_browser_to: redirectTo },
    }),
  browserLocationChangeRequired: (redirectTo: string) =>
    make(422, 'browser location change required', {
      id: 'browser_location_change_required',
      reason: 'In order to complete this flow please redirect the browser to: ' + redirectTo,
      details: { redirect_browser_to: redirectTo },
      extra: { redirect_browser_to: redirectTo },
    }),
  returnToForbidden: (url: string) =>
    make(400, 'Requested return_to URL is not allowed.', {
      id: 'self_service_flow_return_to_forbidden',
      reason: `Requested return_to URL "${url}" is not allowed.`,
    }),
  identityDisabled: () =>
    make(401, 'This account has been disabled. Please contact support for assistance.', {
      id: 'identity_disabled',
      reason: 'This account has been disabled. Please contact support for assistance.',
    }),
} as const;
