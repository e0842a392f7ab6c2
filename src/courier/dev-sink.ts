/**
 * Development only (`kairos serve --dev` without `courier.smtp.connection_uri`): a local SMTP server on loopback
 * that accepts every message, prints it to the log (codes included: that is the point of a dev sink) and keeps the
 * last DEV_SINK_CAPACITY messages for `/ui/dev/mail`. It is never started outside dev mode.
 */
import { SMTPServer } from 'smtp-server';
import type { Logger } from 'pino';

export const DEV_SINK_CAPACITY = 50;

export interface DevMail {
  receivedAt: string;
  from: string;
  to: string;
  subject: string;
  text: string;
}

type Parse = (raw: Buffer) => Promise<{ from?: { text: string }; to?: { text: string } | { text: string }[]; subject?: string; text?: string }>;

/** Loaded with the first message, not at start: mailparser and its dependencies were a tenth of dev start-up. */
let parser: Promise<Parse | null> | undefined;
function loadParser(): Promise<Parse | null> {
  parser ??= loadParserModule();
  return parser;
}

async function loadParserModule(): Promise<Parse | null> {
  try {
    const { simpleParser } = await import('mailparser');
    return simpleParser as unknown as Parse;
  } catch {
    return null; // mailparser is a dev dependency; without it the raw message is shown
  }
}

export class DevMailSink {
  readonly messages: DevMail[] = [];
  private server: SMTPServer | null = null;
  port = 0;

  constructor(private readonly logger: Logger) {}

  async start(): Promise<string> {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      banner: 'Kairos development mail sink',
      logger: false,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks);
          void (async () => {
            const parse = await loadParser();
            const parsed = parse ? await parse(raw).catch(() => null) : null;
            const to = parsed?.to ? (Array.isArray(parsed.to) ? parsed.to.map((t) => t.text).join(', ') : parsed.to.text) : session.envelope.rcptTo.map((r) => r.address).join(', ');
            const mail: DevMail = {
              receivedAt: new Date().toISOString(),
              from: parsed?.from?.text ?? (session.envelope.mailFrom ? session.envelope.mailFrom.address : ''),
              to,
              subject: parsed?.subject ?? '',
              text: parsed?.text ?? raw.toString('utf8'),
            };
            this.messages.unshift(mail);
            this.messages.splice(DEV_SINK_CAPACITY);
            // Dev mode only: printed on purpose so a developer can read the code without a mail server.
            process.stderr.write(`\n----- DEV MAIL SINK (dev mode only) -----\nTo: ${mail.to}\nSubject: ${mail.subject}\n\n${mail.text}\n-----------------------------------------\n`);
            callback();
          })();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, '127.0.0.1', () => resolve());
    });
    const address = (this.server as unknown as { server: import('node:net').Server }).server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    this.logger.warn({ port: this.port }, 'dev mode: mail goes to the local development sink (printed to the log and at /ui/dev/mail)');
    return `smtp://127.0.0.1:${this.port}/?disable_starttls=true`;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = null;
  }
}
