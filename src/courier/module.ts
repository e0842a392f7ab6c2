/**
 * The courier as a Kairos module: the delivery loop (started with `kairos serve` unless `courier.worker.enabled` is
 * false), the admin API, and in dev mode the local mail sink and its page at `/ui/dev/mail`.
 */
import type { Deps } from '../deps.js';
import type { KairosModule } from '../module.js';
import { parseDurationMs } from '../config/duration.js';
import { courierAdminRoutes } from './admin-routes.js';
import { DevMailSink } from './dev-sink.js';
import { devMailRoutes } from './dev-mail-page.js';
import { CourierWorker, smtpTransport, type MailTransport } from './worker.js';
import { HttpChannel } from './http-channel.js';

export interface CourierModule extends KairosModule {
  worker: CourierWorker;
  devSink: DevMailSink | null;
}

export function courierModule(deps: Deps): CourierModule {
  const smtp = deps.config.courier.smtp;
  const devSink = deps.config.dev && !smtp.connection_uri ? new DevMailSink(deps.logger) : null;
  let transport: MailTransport | null = smtp.connection_uri ? smtpTransport(smtp.connection_uri) : null;
  const channel = deps.config.courier.channels.find((c) => c.id === 'sms');
  const sms = channel ? new HttpChannel(channel.id, channel.request_config) : null;
  const worker = new CourierWorker(deps, deps.courier, () => transport, () => sms);

  return {
    name: 'courier',
    worker,
    devSink,
    async publicRoutes(app) {
      if (devSink) await devMailRoutes(app, devSink);
    },
    async adminRoutes(app) {
      await courierAdminRoutes(app, deps);
    },
    async start() {
      if (devSink) transport = smtpTransport(await devSink.start());
      if (!transport) deps.logger.warn('courier.smtp.connection_uri is not set: messages stay queued in the outbox until it is');
      if (deps.config.secrets.cipher.length === 0) deps.logger.warn('secrets.cipher is not set: courier messages carrying codes are stored unencrypted');
      if (deps.config.courier.worker.enabled) worker.start(parseDurationMs(deps.config.courier.worker.poll_interval));
    },
    async stop() {
      await worker.stop();
      transport?.close?.();
      await devSink?.stop();
    },
    async health() {
      const queued = await deps.db.selectFrom('courier_messages').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'queued').executeTakeFirst();
      return { smtp: devSink ? 'dev-sink' : transport ? 'configured' : 'not configured', sms: sms ? 'configured' : 'not configured', queued: Number(queued?.n ?? 0) };
    },
  };
}
