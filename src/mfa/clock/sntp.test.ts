import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, type Clock } from '../../support/clock.js';
import { startNtpResponder, unusedUdpPort, type NtpResponder } from '../../../test/support/ntp-responder.js';
import { formatNtpServer, parseNtpServer, querySntp, SntpError } from './sntp.js';

const responders: NtpResponder[] = [];
async function responder(options: Parameters<typeof startNtpResponder>[0]): Promise<NtpResponder> {
  const started = await startNtpResponder(options);
  responders.push(started);
  return started;
}
afterEach(async () => {
  await Promise.all(responders.splice(0).map((r) => r.close()));
});

/** A clock that moves forward by `stepMs` every time it is read: makes the four timestamps distinct and known. */
class TickingClock implements Clock {
  constructor(
    private currentMs: number,
    private readonly stepMs: number,
  ) {}
  nowMs(): number {
    this.currentMs += this.stepMs;
    return this.currentMs;
  }
}

/** Open UDP sockets, counted once handles closed earlier have been released (that takes a turn of the loop). */
async function udpHandles(): Promise<number> {
  for (let i = 0; i < 3; i += 1) await new Promise((resolve) => setImmediate(resolve));
  return process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
}

async function rejection(promise: Promise<unknown>): Promise<SntpError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the query to reject');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SntpError);
  return error as SntpError;
}

describe('querySntp', () => {
  it('measures a server clock 90 s behind real time as offset +90 s', async () => {
    const clock = new ManualClock();
    const ntp = await responder({ offsetMs: 90_000, clock });
    const result = await querySntp({ host: '127.0.0.1', port: ntp.port }, { timeoutMs: 2_000, clock });
    expect(Math.abs(result.offsetMs - 90_000)).toBeLessThan(1);
    expect(result.stratum).toBe(2);
    expect(result.server).toBe(`127.0.0.1:${ntp.port}`);
  });

  it('measures a server clock 4 s ahead as offset −4 s', async () => {
    const clock = new ManualClock();
    const ntp = await responder({ offsetMs: -4_000, clock });
    const result = await querySntp({ host: '127.0.0.1', port: ntp.port }, { timeoutMs: 2_000, clock });
    expect(Math.abs(result.offsetMs - -4_000)).toBeLessThan(1);
  });

  it('uses the four timestamps of RFC 4330 §5 (offset and delay independent of processing time)', async () => {
    // Reads: t1 = T+10 (client), t2 = T+20+o, t3 = T+30+o (responder), t4 = T+40 (client).
    // offset = ((t2−t1)+(t3−t4))/2 = o; delay = (t4−t1)−(t3−t2) = 30 − 10 = 20.
    const clock = new TickingClock(Date.UTC(2026, 0, 1), 10);
    const ntp = await responder({ offsetMs: 7_000, clock });
    const result = await querySntp({ host: '127.0.0.1', port: ntp.port }, { timeoutMs: 2_000, clock });
    expect(Math.abs(result.offsetMs - 7_000)).toBeLessThan(0.01);
    expect(Math.abs(result.roundTripDelayMs - 20)).toBeLessThan(0.01);
  });

  it('rejects a spoofed or stale reply whose originate timestamp is not our transmit timestamp', async () => {
    const clock = new ManualClock();
    const ntp = await responder({ offsetMs: 90_000, clock, echoWrongOriginate: true });
    const error = await rejection(querySntp({ host: '127.0.0.1', port: ntp.port }, { timeoutMs: 200, clock }));
    expect(error.code).toBe('invalid_reply');
    expect(error.message).toMatch(/originate timestamp/);
    expect(ntp.requests).toBe(1);
  });

  it('rejects a server that says it is unsynchronised (leap indicator 3) instead of trusting its time', async () => {
    const clock = new ManualClock();
    const ntp = await responder({ offsetMs: 90_000, clock, leap: 3 });
    const error = await rejection(querySntp({ host: '127.0.0.1', port: ntp.port }, { timeoutMs: 2_000, clock }));
    expect(error.code).toBe('unsynchronised');
    expect(error.message).toMatch(/leap indicator 3/);
  });

  it("rejects a kiss-o'-death (stratum 0) and reports its code", async () => {
    const clock = new ManualClock();
    const ntp = await responder({ offsetMs: 0, clock, stratum: 0, kissCode: 'DENY' });
    const error = await rejection(querySntp({ host: '127.0.0.1', port: ntp.port }, { timeoutMs: 2_000, clock }));
    expect(error.code).toBe('kiss_of_death');
    expect(error.message).toContain('DENY');
  });

  it('rejects stratum 16 and a reply that is not in server mode', async () => {
    const clock = new ManualClock();
    const unsynced = await responder({ offsetMs: 0, clock, stratum: 16 });
    const wrongMode = await responder({ offsetMs: 0, clock, mode: 3 });
    const e1 = await rejection(querySntp({ host: '127.0.0.1', port: unsynced.port }, { timeoutMs: 2_000, clock }));
    const e2 = await rejection(querySntp({ host: '127.0.0.1', port: wrongMode.port }, { timeoutMs: 2_000, clock }));
    expect(e1.message).toMatch(/stratum 16/);
    expect(e2.message).toMatch(/mode 3/);
  });

  it('times out on a silent server after the configured timeout and releases its socket', async () => {
    const clock = new ManualClock();
    const ntp = await responder({ offsetMs: 0, clock, silent: true });
    const handlesBefore = await udpHandles();
    const startedAt = performance.now();
    const error = await rejection(querySntp({ host: '127.0.0.1', port: ntp.port }, { timeoutMs: 200, clock }));
    const elapsedMs = performance.now() - startedAt;
    expect(error.code).toBe('timeout');
    expect(error.message).toContain('200 ms');
    // Lower bound only: a slow machine may take longer, never shorter.
    expect(elapsedMs).toBeGreaterThanOrEqual(190);
    expect(await udpHandles()).toBe(handlesBefore);
  });

  it('rejects cleanly (no uncaught error) when nothing listens on the port', async () => {
    const clock = new ManualClock();
    const port = await unusedUdpPort();
    const handlesBefore = await udpHandles();
    const error = await rejection(querySntp({ host: '127.0.0.1', port }, { timeoutMs: 200, clock }));
    // Linux reports ICMP port-unreachable as ECONNREFUSED on a connected socket; elsewhere it is a timeout.
    expect(['socket', 'timeout']).toContain(error.code);
    expect(await udpHandles()).toBe(handlesBefore);
  });

  it('rejects a host that does not resolve', async () => {
    const error = await rejection(
      querySntp({ host: 'ntp.invalid', port: 123 }, { timeoutMs: 2_000, clock: new ManualClock() }),
    );
    expect(['dns', 'timeout']).toContain(error.code);
  });

  it('rejects a non-positive timeout as misuse', async () => {
    await expect(querySntp({ host: '127.0.0.1' }, { timeoutMs: 0, clock: new ManualClock() })).rejects.toThrow(
      TypeError,
    );
  });
});

describe('parseNtpServer', () => {
  it.each([
    ['pool.ntp.org', { host: 'pool.ntp.org', port: 123 }],
    ['time.example.com:1123', { host: 'time.example.com', port: 1123 }],
    ['udp://time.example.com:1123', { host: 'time.example.com', port: 1123 }],
    ['UDP://10.0.0.1', { host: '10.0.0.1', port: 123 }],
    ['  127.0.0.1:9123 ', { host: '127.0.0.1', port: 9123 }],
    ['[::1]:9123', { host: '::1', port: 9123 }],
    ['udp://[2001:db8::1]', { host: '2001:db8::1', port: 123 }],
    ['2001:db8::1', { host: '2001:db8::1', port: 123 }],
  ])('parses %j', (entry, expected) => {
    expect(parseNtpServer(entry)).toEqual(expected);
  });

  it.each(['', 'ntp://pool.ntp.org', 'host:0', 'host:70000', 'host:12a', 'host:', 'http://x:1', 'a b', '[nothost]:1'])(
    'rejects %j',
    (entry) => {
      expect(() => parseNtpServer(entry)).toThrow(TypeError);
    },
  );

  it('formats IPv6 with brackets', () => {
    expect(formatNtpServer({ host: '::1', port: 9 })).toBe('[::1]:9');
    expect(formatNtpServer({ host: 'pool.ntp.org' })).toBe('pool.ntp.org:123');
  });
});
