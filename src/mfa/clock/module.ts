import type { Deps } from '../../deps.js';
import type { KairosModule } from '../../module.js';
import { parseDurationMs } from '../../config/duration.js';
import { ServerClockMonitor } from './clock-monitor.js';

/**
 * Watches the server clock against `clock.ntp.servers` (SNTP, RFC 4330) at startup and periodically: the offset is
 * logged, exposed as a gauge and reported on /health/ready. An unreachable server is a warning, never a failed start
 * (Authelia refuses to start and its users complain: authelia#3676, #4169).
 */
export function clockModule(deps: Deps): KairosModule {
  const ntp = deps.config.clock.ntp;
  const gauge = deps.metrics.gauge('kairos_server_clock_offset_seconds', 'Offset to add to this server\'s clock to match NTP (positive: the server is behind)');
  const monitor = new ServerClockMonitor({
    servers: ntp.servers,
    intervalMs: parseDurationMs(ntp.interval),
    warnThresholdMs: parseDurationMs(ntp.warn_threshold),
    timeoutMs: parseDurationMs(ntp.timeout),
    clock: deps.clock,
    logger: deps.logger,
    onOffset: (offsetMs) => {
      if (offsetMs === null) gauge.reset();
      else gauge.set(offsetMs / 1000);
    },
  });
  return {
    name: 'server_clock',
    start: () => {
      if (ntp.servers.length > 0) monitor.start();
    },
    stop: () => monitor.stop(),
    health: () => monitor.snapshot() as unknown as Record<string, unknown>,
  };
}
