/**
 * A Courier (src/courier/courier.ts) that keeps what it is given, for tests that read the mail an action sends.
 * It implements the same contract as the SMTP courier, so recovery code under test cannot tell the difference.
 */
import type { Courier, OutgoingMessage } from '../../src/courier/courier.js';
import type { Deps } from '../../src/deps.js';

export class MailCapture implements Courier {
  readonly messages: (OutgoingMessage & { id: string })[] = [];
  private next = 0;

  async enqueue(message: OutgoingMessage): Promise<string> {
    const id = `captured-${++this.next}`;
    this.messages.push({ ...message, id });
    return id;
  }

  to(recipient: string, template?: OutgoingMessage['template']) {
    return this.messages.filter((m) => m.recipient === recipient && (!template || m.template === template));
  }

  last(recipient: string, template?: OutgoingMessage['template']) {
    const list = this.to(recipient, template);
    return list[list.length - 1];
  }

  install(deps: Deps): void {
    (deps as Deps & { courier?: Courier }).courier = this;
  }
}
