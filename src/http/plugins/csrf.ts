import { randomBytes } from 'node:crypto';
import { keyedHash, constantTimeEqual } from '../../support/crypto.js';
import { errors } from '../../errors/http-error.js';
import type { CsrfCheck, FlowReply, FlowRequest } from '../../flows/request.js';

/**
 * CSRF for browser flows: a random HttpOnly cookie, and a form token that is an HMAC of it under the cookie secret.
 * A cross-site page can neither read the cookie nor compute the token, so a forged form post fails. API flows
 * carry no cookie and need no token (Kratos does the same).
 */
export class Csrf implements CsrfCheck {
  readonly cookieName = 'kairos_csrf_token';

  constructor(
    private readonly secrets: string[],
    private readonly secureCookie: boolean,
  ) {}

  /** The token for this browser, setting the cookie if the browser has none yet. */
  ensure(request: FlowRequest, reply: FlowReply): string {
    let cookie = request.cookies?.[this.cookieName];
    if (!cookie || !/^[A-Za-z0-9_-]{43}$/.test(cookie)) {
      cookie = randomBytes(32).toString('base64url');
      reply.setCookie(this.cookieName, cookie, { httpOnly: true, sameSite: 'lax', secure: this.secureCookie, path: '/', maxAge: 60 * 60 * 24 * 365 });
      // Later readers in this request (the flow JSON) must see the same value.
      (request.cookies as Record<string, string>)[this.cookieName] = cookie;
    }
    return keyedHash(this.secrets[0]!, cookie);
  }

  /** The token for the request's cookie, or null without one. */
  tokenFor(request: FlowRequest): string | null {
    const cookie = request.cookies?.[this.cookieName];
    return cookie ? keyedHash(this.secrets[0]!, cookie) : null;
  }

  verify(request: FlowRequest, submitted: unknown): void {
    const cookie = request.cookies?.[this.cookieName];
    const header = request.headers['x-csrf-token'];
    const token = typeof submitted === 'string' && submitted ? submitted : typeof header === 'string' ? header : '';
    if (!cookie || !token) throw errors.csrfViolation();
    const ok = this.secrets.some((secret) => constantTimeEqual(keyedHash(secret, cookie), token));
    if (!ok) throw errors.csrfViolation();
  }
}
