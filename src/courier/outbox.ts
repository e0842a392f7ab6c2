/**
 * The outbox: `enqueue` renders the message's template and writes it to `courier_messages` in the caller's
 * transaction, so a message exists if and only if the action that caused it committed. Delivery is the worker's job
 * (courier/worker.ts).
 *
 * Bodies that carry a one-time code (or link) are encrypted at rest with `secrets.cipher` (AES-256-GCM, additional
 * data = message id) and are never returned by the admin API. Without a cipher key they are stored in clear and
 * Kairos warns at startup.
 */
import type { Deps } from '../deps.js';
import { afterCommit } from '../storage/unit-of-work.js';
import type { Db } from '../identity/repository.js';
import type { SecretCipher } from '../crypto/secret-cipher.js';
import type { CourierMessagesTable } from '../storage/tables.js';
import type { Courier, OutgoingMessage } from './courier.js';
import type { Templates } from './templates.js';
import { identityLanguagePreference, messageLanguage } from './language.js';
import type { Language } from '../ui/i18n/catalogue.js';

type OutboxDeps = Pick<Deps, 'db' | 'clock' | 'random'> & { config: { ui: { languages: readonly Language[] } } };

export interface StoredMessage {
  id: string;
  status: CourierMessagesTable['status'];
  templateType: string;
  recipient: string;
  subject: string;
  text: string;
  html: string;
  /** SMS: what the HTTP channel hands the provider's template (`ctx.template_data`). */
  templateData: Record<string, unknown> | null;
  type: 'email' | 'sms';
  carriesSecret: boolean;
  identityId: string | null;
  sendCount: number;
}

/** Listeners told (in this process) that a message was queued, so a local worker delivers it without waiting. */
export type EnqueueListener = () => void;

export class OutboxCourier implements Courier {
  private readonly listeners: EnqueueListener[] = [];

  constructor(
    private readonly deps: OutboxDeps,
    private readonly templates: Templates,
    private readonly cipher: SecretCipher | null,
  ) {}

  onEnqueue(listener: EnqueueListener): void {
    this.listeners.push(listener);
  }

  async enqueue(message: OutgoingMessage, trx?: Db): Promise<string> {
    const db = trx ?? this.deps.db;
    const id = this.deps.random.uuid();
    const now = this.deps.clock.nowMs();
    const language = await this.languageOf(message, db);
    const sms = message.channel === 'sms';
    const rendered = sms ? null : this.templates.render(message.template, message.recipient, message.data, language);
    const text = sms ? this.templates.renderSms(message.template, message.recipient, message.data, language) : null;
    const encrypt = message.carriesSecret === true && this.cipher !== null;
    const seal = (text: string, part: string) => (encrypt ? this.cipher!.encrypt(new TextEncoder().encode(text), `${id}/${part}`) : text);
    await db
      .insertInto('courier_messages')
      .values({
        id,
        type: sms ? 'sms' : 'email',
        status: 'queued',
        template_type: message.template,
        recipient: message.recipient,
        subject: rendered?.subject ?? '',
        body: seal(rendered?.text ?? text!.text, 'text'),
        html_body: rendered ? seal(rendered.html, 'html') : '',
        template_data: text ? seal(JSON.stringify(text.templateData), 'template_data') : null,
        body_encrypted: encrypt ? 1 : 0,
        carries_secret: message.carriesSecret ? 1 : 0,
        identity_id: message.identityId ?? null,
        send_count: 0,
        next_attempt_at: now,
        claimed_until: null,
        claim_token: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    // Listeners (the worker) run once the enqueuing step committed (storage/unit-of-work.ts), outside it; a worker
    // that still looks too early (a caller's own transaction) finds nothing and the poll picks the message up.
    afterCommit(() => {
      for (const listener of this.listeners) listener();
    });
    return id;
  }

  /** The language the message is written in (courier/language.ts): the identity's preference, else the request's. */
  private async languageOf(message: OutgoingMessage, db: Db): Promise<Language> {
    let identityPreference: string | null = null;
    if (message.identityId) {
      const row = await db.selectFrom('identities').select(['traits', 'metadata_public']).where('id', '=', message.identityId).executeTakeFirst();
      if (row) {
        const parse = (text: string | null) => {
          try {
            return text ? (JSON.parse(text) as unknown) : null;
          } catch {
            return null;
          }
        };
        identityPreference = identityLanguagePreference(parse(row.traits), parse(row.metadata_public));
      }
    }
    return messageLanguage(this.deps.config.ui.languages, { identityPreference, acceptLanguage: message.acceptLanguage ?? null });
  }

  /** The message with its bodies decrypted (for delivery only; never for the admin API). */
  open(row: CourierMessagesTable): StoredMessage {
    const unseal = (text: string, part: string) =>
      row.body_encrypted === 1 && this.cipher ? new TextDecoder().decode(this.cipher.decrypt(text, `${row.id}/${part}`)) : text;
    return {
      id: row.id,
      status: row.status,
      templateType: row.template_type,
      recipient: row.recipient,
      subject: row.subject,
      text: unseal(row.body, 'text'),
      html: row.html_body === '' ? '' : unseal(row.html_body, 'html'),
      templateData: row.template_data ? (JSON.parse(unseal(row.template_data, 'template_data')) as Record<string, unknown>) : null,
      type: row.type,
      carriesSecret: row.carries_secret === 1,
      identityId: row.identity_id,
      sendCount: row.send_count,
    };
  }
}
