/**
 * Periodically compares this server's clock with NTP (runbook: "Check server clock … If drifted: restart
 * systemd-timesyncd"). TOTP tolerates ±1 step (30 s by default), so a server a minute behind rejects every correct
 * code as "from the future"; this monitor says so in the logs, in `/health/ready` details and in `kairos doctor clock`
 * before users do.
 *
 * It never throws for network problems: an unreachable NTP server is a warning, not an outage of the identity server.
 * Sign convention (as `querySntp`): `offsetMs` > 0 means this server's clock is BEHIND real time.
 */
import type { Clock } from '../../support/clock.js';
import { formatNtpServer, parseNtpServer, querySntp, type NtpServer, type SntpQuery } from './sntp.js';

/** Large enough to ignore network jitter and VM scheduling, well under one 30 s TOTP step (RFC 6238 §5.2). */
export const DEFAULT_CLOCK_WARN_THRESHOLD_MS = 5_000;

/** The fix an operator should apply; shown in the warning and by `kairos doctor clock`. */
export const CLOCK_FIX_HINT =
  'enable NTP: timedatectl set-ntp true (or restart systemd-timesyncd / chronyd); in a container, fix the host clock';

/** The subset of pino's logger this module uses. */
export interface ClockLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ServerClockMonitorOptions {
  /** `clock.ntp.servers` entries: `host`, `host:port` or `udp://host:port`; tried in order until one answers. */
  servers: readonly string[];
  intervalMs: number;
  /** |offset| above this logs a warning; default 5000. */
  warnThresholdMs?: number;
  /** Per-server query timeout. */
  timeoutMs: number;
  clock: Clock;
  logger: ClockLogger;
  /** Called after every check with the measured offset, or null when no server answered (e.g. for a gauge). */
  onOffset?: (offsetMs: number | null) => void;
  /** Injectable for tests; defaults to `querySntp`. */
  query?: SntpQuery;
}

/**
 * - `disabled`: no servers configured; `unknown`: not checked yet; `ok`: within the threshold;
 * - `skewed`: |offset| above the threshold; `unreachable`: the last check got no valid answer from any server.
 */
export type ServerClockStatus = 'disabled' | 'unknown' | 'ok' | 'skewed' | 'unreachable';

export interface ServerClockSnapshot {
  status: ServerClockStatus;
  /** Offset measured by the last check, null if it failed or none ran. Positive = server clock behind. */
  lastOffsetMs: number | null;
  lastRoundTripDelayMs: number | null;
  lastStratum: number | null;
  /** The server that answered the last check. */
  lastServer: string | null;
  /** When the last check finished (success or not), by the injected clock. */
  lastCheckedAtMs: number | null;
  /** When a check last got an answer; lets a reader judge how stale a skew report is. */
  lastSucceededAtMs: number | null;
  /** Why the last check failed (every server's error), null after a success. */
  lastError: string | null;
  warnThresholdMs: number;
  servers: string[];
}

export class ServerClockMonitor {
  private readonly servers: Required<NtpServer>[];
  private readonly warnThresholdMs: number;
  private readonly query: SntpQuery;
  private timer: ReturnType<typeof setInterval> | undefined;
  private inFlight: Promise<ServerClockSnapshot> | undefined;
  private state: Omit<ServerClockSnapshot, 'warnThresholdMs' | 'servers'>;

  constructor(private readonly options: ServerClockMonitorOptions) {
    // Parsing here turns a config mistake into a startup error rather than a warning every interval.
    this.servers = options.servers.map((entry) => parseNtpServer(entry));
    this.warnThresholdMs = options.warnThresholdMs ?? DEFAULT_CLOCK_WARN_THRESHOLD_MS;
    if (!(this.warnThresholdMs > 0)) throw new TypeError('warnThresholdMs must be positive');
    if (!(options.intervalMs > 0)) throw new TypeError('intervalMs must be positive');
    if (!(options.timeoutMs > 0)) throw new TypeError('timeoutMs must be positive');
    this.query = options.query ?? querySntp;
    this.state = {
      status: this.servers.length === 0 ? 'disabled' : 'unknown',
      lastOffsetMs: null,
      lastRoundTripDelayMs: null,
      lastStratum: null,
      lastServer: null,
      lastCheckedAtMs: null,
      lastSucceededAtMs: null,
      lastError: null,
    };
  }

  /**
   * Queries the servers in order until one answers and records the result. Always resolves (with the new snapshot);
   * concurrent calls share one check.
   */
  checkNow(): Promise<ServerClockSnapshot> {
    if (this.servers.length === 0) return Promise.resolve(this.snapshot());
    this.inFlight ??= this.check().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Checks now, then every `intervalMs`. The timer is unref()'ed so it never keeps the process alive. Idempotent. */
  start(): void {
    if (this.timer || this.servers.length === 0) return;
    void this.checkNow();
    this.timer = setInterval(() => void this.checkNow(), this.options.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** For `/health/ready` details and `kairos doctor clock`. A copy: callers cannot change the monitor's state. */
  snapshot(): ServerClockSnapshot {
    return {
      ...this.state,
      warnThresholdMs: this.warnThresholdMs,
      servers: this.servers.map((server) => formatNtpServer(server)),
    };
  }

  private async check(): Promise<ServerClockSnapshot> {
    const { clock, logger, timeoutMs } = this.options;
    const failures: string[] = [];
    for (const server of this.servers) {
      try {
        const result = await this.query(server, { timeoutMs, clock });
        const skewed = Math.abs(result.offsetMs) > this.warnThresholdMs;
        this.state = {
          status: skewed ? 'skewed' : 'ok',
          lastOffsetMs: result.offsetMs,
          lastRoundTripDelayMs: result.roundTripDelayMs,
          lastStratum: result.stratum,
          lastServer: result.server,
          lastCheckedAtMs: clock.nowMs(),
          lastSucceededAtMs: clock.nowMs(),
          lastError: null,
        };
        const fields = {
          offsetMs: Math.round(result.offsetMs),
          roundTripDelayMs: Math.round(result.roundTripDelayMs),
          stratum: result.stratum,
          server: result.server,
        };
        logger.info(fields, `server clock offset ${formatOffset(result.offsetMs)} (measured against ${result.server})`);
        if (skewed) {
          logger.warn(
            { ...fields, warnThresholdMs: this.warnThresholdMs, fix: CLOCK_FIX_HINT },
            `${describeSkew(result.offsetMs)} (threshold ${this.warnThresholdMs} ms); ${CLOCK_FIX_HINT}`,
          );
        }
        this.notify(result.offsetMs);
        return this.snapshot();
      } catch (error) {
        failures.push(error instanceof Error ? error.message : String(error));
      }
    }
    const lastError = failures.join('; ');
    this.state = {
      ...this.state,
      status: 'unreachable',
      lastOffsetMs: null,
      lastRoundTripDelayMs: null,
      lastStratum: null,
      lastServer: null,
      lastCheckedAtMs: clock.nowMs(),
      lastError,
    };
    logger.warn(
      { servers: this.snapshot().servers, error: lastError },
      `cannot check the server clock: no NTP server answered (${lastError})`,
    );
    this.notify(null);
    return this.snapshot();
  }

  private notify(offsetMs: number | null): void {
    try {
      this.options.onOffset?.(offsetMs);
    } catch (error) {
      // A broken metrics callback must not turn a clock check into an unhandled rejection.
      this.options.logger.warn({ error: String(error) }, 'clock monitor onOffset callback failed');
    }
  }
}

function formatOffset(offsetMs: number): string {
  return `${offsetMs >= 0 ? '+' : '−'}${(Math.abs(offsetMs) / 1000).toFixed(1)} s`;
}

/** Says which way the clock is wrong and what users will see, in the runbook's words. */
export function describeSkew(offsetMs: number): string {
  const seconds = (Math.abs(offsetMs) / 1000).toFixed(1);
  return offsetMs > 0
    ? `server clock is ${seconds} s BEHIND real time: users' TOTP codes look "from the future" (rejected once this exceeds the ±1 step window)`
    : `server clock is ${seconds} s AHEAD of real time: users' TOTP codes look expired (rejected once this exceeds the ±1 step window)`;
}
