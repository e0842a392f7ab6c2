import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../support/clock.js';
import { startNtpResponder, unusedUdpPort, type NtpResponder } from '../../../test/support/ntp-responder.js';
import { ServerClockMonitor, type ClockLogger } from './clock-monitor.js';
import type { SntpQuery } from './sntp.js';

interface LogLine {
  level: 'info' | 'warn';
  obj: Record<string, unknown>;
  msg: string;
}
function captureLogger(): ClockLogger & { lines: LogLine[]; warnings(): LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (obj, msg) => lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    warnings: () => lines.filter((line) => line.level === 'warn'),
  };
}

const responders: NtpResponder[] = [];
async function responder(offsetMs: number, clock: ManualClock): Promise<NtpResponder> {
  const started = await startNtpResponder({ offsetMs, clock });
  responders.push(started);
  return started;
}
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(responders.splice(0).map((r) => r.close()));
});

describe('ServerClockMonitor', () => {
  it('warns, naming the offset and the fix, when the server clock is 90 s behind', async () => {
    const clock = new ManualClock();
    const ntp = await responder(90_000, clock);
    const logger = captureLogger();
    const offsets: (number | null)[] = [];
    const monitor = new ServerClockMonitor({
      servers: [`127.0.0.1:${ntp.port}`],
      intervalMs: 60_000,
      timeoutMs: 2_000,
      clock,
      logger,
      onOffset: (offsetMs) => offsets.push(offsetMs),
    });

    const snapshot = await monitor.checkNow();

    expect(snapshot.status).toBe('skewed');
    expect(Math.abs(snapshot.lastOffsetMs! - 90_000)).toBeLessThan(1);
    expect(snapshot.lastServer).toBe(`127.0.0.1:${ntp.port}`);
    expect(snapshot.lastCheckedAtMs).toBe(clock.nowMs());
    expect(snapshot.lastError).toBeNull();
    expect(logger.lines.some((l) => l.level === 'info' && l.obj.offsetMs === 90_000)).toBe(true);
    const [warning, ...more] = logger.warnings();
    expect(more).toEqual([]);
    expect(warning!.obj.offsetMs).toBe(90_000);
    expect(warning!.msg).toContain('90.0 s BEHIND');
    expect(warning!.msg).toContain('timedatectl set-ntp true');
    expect(offsets).toHaveLength(1);
    expect(Math.abs(offsets[0]! - 90_000)).toBeLessThan(1);
  });

  it('logs only an info line when the offset is within the threshold', async () => {
    const clock = new ManualClock();
    const ntp = await responder(-4_000, clock);
    const logger = captureLogger();
    const monitor = new ServerClockMonitor({
      servers: [`udp://127.0.0.1:${ntp.port}`],
      intervalMs: 60_000,
      timeoutMs: 2_000,
      clock,
      logger,
    });
    const snapshot = await monitor.checkNow();
    expect(snapshot.status).toBe('ok');
    expect(logger.warnings()).toEqual([]);
    expect(logger.lines.map((l) => l.level)).toEqual(['info']);
  });

  it('an unreachable NTP server is a warning, and checkNow() still resolves', async () => {
    const clock = new ManualClock();
    const logger = captureLogger();
    const offsets: (number | null)[] = [];
    const port = await unusedUdpPort();
    const monitor = new ServerClockMonitor({
      servers: [`127.0.0.1:${port}`],
      intervalMs: 60_000,
      timeoutMs: 200,
      clock,
      logger,
      onOffset: (offsetMs) => offsets.push(offsetMs),
    });

    const snapshot = await monitor.checkNow();

    expect(snapshot.status).toBe('unreachable');
    expect(snapshot.lastOffsetMs).toBeNull();
    expect(snapshot.lastError).toContain(`127.0.0.1:${port}`);
    expect(snapshot.lastCheckedAtMs).toBe(clock.nowMs());
    expect(snapshot.lastSucceededAtMs).toBeNull();
    expect(logger.warnings()).toHaveLength(1);
    expect(logger.warnings()[0]!.msg).toMatch(/no NTP server answered/);
    expect(offsets).toEqual([null]);
  });

  it('falls over to the second server when the first does not answer', async () => {
    const clock = new ManualClock();
    const logger = captureLogger();
    const deadPort = await unusedUdpPort();
    const ntp = await responder(2_000, clock);
    const monitor = new ServerClockMonitor({
      servers: [`127.0.0.1:${deadPort}`, `127.0.0.1:${ntp.port}`],
      intervalMs: 60_000,
      timeoutMs: 200,
      clock,
      logger,
    });

    const snapshot = await monitor.checkNow();

    expect(snapshot.status).toBe('ok');
    expect(snapshot.lastServer).toBe(`127.0.0.1:${ntp.port}`);
    expect(Math.abs(snapshot.lastOffsetMs! - 2_000)).toBeLessThan(1);
    expect(ntp.requests).toBe(1);
    expect(logger.warnings()).toEqual([]);
  });

  it('a failed check after a success clears the offset but keeps when it last succeeded', async () => {
    const clock = new ManualClock();
    let answer = true;
    const query: SntpQuery = async (server) => {
      if (!answer) throw new Error('SNTP x: no valid reply within 200 ms');
      return { offsetMs: 40_000, roundTripDelayMs: 3, stratum: 1, server: `${server.host}:${server.port}` };
    };
    const monitor = new ServerClockMonitor({
      servers: ['ntp.example'],
      intervalMs: 60_000,
      timeoutMs: 200,
      clock,
      logger: captureLogger(),
      query,
    });
    const succeededAtMs = clock.nowMs();
    await monitor.checkNow();
    clock.advanceSeconds(60);
    answer = false;
    const snapshot = await monitor.checkNow();
    expect(snapshot).toMatchObject({
      status: 'unreachable',
      lastOffsetMs: null,
      lastSucceededAtMs: succeededAtMs,
      lastCheckedAtMs: succeededAtMs + 60_000,
      lastError: 'SNTP x: no valid reply within 200 ms',
      servers: ['ntp.example:123'],
    });
  });

  it('concurrent checkNow() calls share one query', async () => {
    let queries = 0;
    const query: SntpQuery = async (server) => {
      queries += 1;
      return { offsetMs: 0, roundTripDelayMs: 1, stratum: 1, server: server.host };
    };
    const monitor = new ServerClockMonitor({
      servers: ['a'],
      intervalMs: 60_000,
      timeoutMs: 200,
      clock: new ManualClock(),
      logger: captureLogger(),
      query,
    });
    await Promise.all([monitor.checkNow(), monitor.checkNow(), monitor.checkNow()]);
    expect(queries).toBe(1);
  });

  it('start() checks at once and then every interval; stop() ends it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    let queries = 0;
    const query: SntpQuery = async (server) => {
      queries += 1;
      return { offsetMs: 0, roundTripDelayMs: 1, stratum: 1, server: server.host };
    };
    const monitor = new ServerClockMonitor({
      servers: ['a'],
      intervalMs: 60_000,
      timeoutMs: 200,
      clock: new ManualClock(),
      logger: captureLogger(),
      query,
    });
    monitor.start();
    monitor.start(); // idempotent
    await vi.advanceTimersByTimeAsync(0);
    expect(queries).toBe(1);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(queries).toBe(3);
    monitor.stop();
    await vi.advanceTimersByTimeAsync(600_000);
    expect(queries).toBe(3);
  });

  it('a throwing onOffset callback does not break the check', async () => {
    const logger = captureLogger();
    const monitor = new ServerClockMonitor({
      servers: ['a'],
      intervalMs: 60_000,
      timeoutMs: 200,
      clock: new ManualClock(),
      logger,
      query: async () => ({ offsetMs: 0, roundTripDelayMs: 1, stratum: 1, server: 'a:123' }),
      onOffset: () => {
        throw new Error('gauge broke');
      },
    });
    await expect(monitor.checkNow()).resolves.toMatchObject({ status: 'ok' });
    expect(logger.warnings()[0]!.msg).toMatch(/onOffset callback failed/);
  });

  it('with no servers it is disabled and never queries', async () => {
    const query = vi.fn<SntpQuery>();
    const monitor = new ServerClockMonitor({
      servers: [],
      intervalMs: 60_000,
      timeoutMs: 200,
      clock: new ManualClock(),
      logger: captureLogger(),
      query,
    });
    monitor.start();
    expect((await monitor.checkNow()).status).toBe('disabled');
    expect(query).not.toHaveBeenCalled();
    monitor.stop();
  });

  it('rejects a malformed server entry at construction (config mistake)', () => {
    expect(
      () =>
        new ServerClockMonitor({
          servers: ['ntp://x'],
          intervalMs: 1,
          timeoutMs: 1,
          clock: new ManualClock(),
          logger: captureLogger(),
        }),
    ).toThrow(TypeError);
  });
});
