/**
 * Recovery sends mail only through the courier contract (src/courier/courier.ts). `deps.courier` is added by the
 * courier module; until it is in play, recovery mail is not sent and a warning (never the code) is logged.
 */
import type { Deps } from '../deps.js';
import type { Courier, OutgoingMessage } from '../courier/courier.js';
import type { Db } from '../identity/repository.js';

export function courierOf(deps: Deps): Courier | null {
  return (deps as Deps & { courier?: Courier }).courier ?? null;
}

export async function sendMail(deps: Deps, message: OutgoingMessage, trx?: Db): Promise<void> {
  const courier = courierOf(deps);
  if (!courier) {
    deps.logger.warn({ template: message.template, identity_id: message.identityId ?? null }, 'no courier is configured: recovery mail was not sent');
    return;
  }
  await courier.enqueue(message, trx);
}
