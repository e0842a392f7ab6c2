/**
 * A real SMTP server for tests (smtp-server), parsing what arrives with mailparser. `failWith` makes it refuse
 * messages (an SMTP 4xx/5xx answer), to exercise retries.
 */
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

export interface ReceivedMail {
  to: string;
  subject: string;
  text: string;
  html: string;
  from: string;
  parsed: ParsedMail;
}

export class TestSmtpServer {
  readonly received: ReceivedMail[] = [];
  private waiters: { match: (m: ReceivedMail) => boolean; resolve: (m: ReceivedMail) => void }[] = [];
  private server: SMTPServer;
  /** When set, every message is refused with this SMTP response code. */
  failWith: number | null = null;
  attempts = 0;
  port = 0;

  constructor() {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData: (stream, _session, callback) => {
        this.attempts++;
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          if (this.failWith !== null) {
            const err = new Error('mailbox temporarily unavailable') as Error & { responseCode: number };
            err.responseCode = this.failWith;
            return callback(err);
          }
          simpleParser(Buffer.concat(chunks)).then((parsed) => {
            const to = Array.isArray(parsed.to) ? parsed.to.map((t) => t.text).join(', ') : (parsed.to?.text ?? '');
            const mail: ReceivedMail = { to, subject: parsed.subject ?? '', text: parsed.text ?? '', html: typeof parsed.html === 'string' ? parsed.html : '', from: parsed.from?.text ?? '', parsed };
            this.received.push(mail);
            for (const waiter of [...this.waiters]) {
              if (waiter.match(mail)) {
                this.waiters.splice(this.waiters.indexOf(waiter), 1);
                waiter.resolve(mail);
              }
            }
            callback();
          }, callback);
        });
      },
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = (this.server as unknown as { server: import('node:net').Server }).server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  get uri(): string {
    return `smtp://127.0.0.1:${this.port}/?disable_starttls=true`;
  }

  /** The next (or an already received, not yet taken) message to `to`; rejects after `timeoutMs`. */
  waitFor(to: string, timeoutMs = 10_000): Promise<ReceivedMail> {
    const match = (m: ReceivedMail) => m.to.includes(to);
    const already = this.received.find(match);
    if (already) {
      this.received.splice(this.received.indexOf(already), 1);
      return Promise.resolve(already);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no mail to ${to} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (m) => {
          clearTimeout(timer);
          this.received.splice(this.received.indexOf(m), 1);
          resolve(m);
        },
      });
    });
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Polls `check` until it returns a value (for state another process or loop changes); fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | null | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
