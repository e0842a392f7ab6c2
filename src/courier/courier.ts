/**
 * The courier's contract for the rest of Kairos: an action that sends mail writes the message to the outbox in
 * its own transaction (`enqueue(message, trx)`), and the courier loop delivers it later. Nothing else in Kairos
 * talks SMTP.
 */
import type { Db } from '../identity/repository.js';

/** Kratos's template types, plus Kairos's own for MFA reset notices. */
export type CourierTemplateType =
  | 'recovery_code_valid'
  | 'recovery_code_invalid'
  | 'verification_code_valid'
  | 'verification_code_invalid'
  | 'login_code_valid'
  | 'mfa_reset_requested'
  | 'mfa_reset_completed'
  | 'mfa_reset_cancelled';

export interface OutgoingMessage {
  template: CourierTemplateType;
  /** How it goes out: email (SMTP, the default) or sms (the `sms` courier channel); Kratos's message types. */
  channel?: 'email' | 'sms';
  /** The email address, or for an SMS the phone number (E.164). */
  recipient: string;
  /** Values the template renders (a code, a link, an expiry). */
  data: Record<string, unknown>;
  identityId?: string | null;
  /** The message carries a one-time code or link: its body is redacted in the admin API and never logged. */
  carriesSecret?: boolean;
  /**
   * The language preference of the request that causes the message (RequestInfo.acceptLanguage: the hosted UI's
   * language cookie first, then `Accept-Language`); used when the identity states none (courier/language.ts).
   */
  acceptLanguage?: string | null;
}

export interface Courier {
  /** Writes the message to the outbox (in `trx` when given) and returns its id; delivery happens later. */
  enqueue(message: OutgoingMessage, trx?: Db): Promise<string>;
}
