/**
 * A minimal SNTP v4 client (RFC 4330) to measure how far this server's clock is from real time.
 *
 * Why Kairos cares: TOTP accepts a code for its time step ±1 step. When the server clock lags real time by a minute,
 * every correct code looks "from the future" and is rejected (runbook: "server is 60s behind real time"). One unicast
 * query tells the operator which side is wrong before users start calling the helpdesk.
 *
 * Sign convention (RFC 4330 §5): `offsetMs` is what must be ADDED to the local clock to match the NTP server.
 * Positive = this server's clock is behind real time; negative = ahead.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Clock } from '../../support/clock.js';
import { cryptoRandom, type Random } from '../../support/random.js';

/** IANA port for NTP (RFC 4330 §4, RFC 5905 §7.2). */
export const NTP_DEFAULT_PORT = 123;
/** Header length without extension fields or authenticator (RFC 4330 §4). */
const NTP_PACKET_BYTES = 48;
/** Seconds from the NTP prime epoch (1900-01-01) to the Unix epoch (1970-01-01) (RFC 4330 §3). */
const NTP_UNIX_EPOCH_DELTA_SECONDS = 2_208_988_800;
const TWO_POW_32 = 2 ** 32;
/** Mode values (RFC 4330 §4): 3 = client, 4 = server. */
const MODE_CLIENT = 3;
const MODE_SERVER = 4;
const VERSION = 4;
/** Leap indicator 3 = "alarm condition (clock not synchronized)" (RFC 4330 §4). */
const LEAP_UNSYNCHRONISED = 3;
/**
 * Low bits of the transmit timestamp's fraction that we fill with random bits: 2^20 / 2^32 s ≈ 0.24 ms, far below
 * anything TOTP cares about. They make the originate timestamp unguessable, so an off-path attacker cannot forge a
 * reply that passes the originate check (the "nonce" use of the transmit timestamp, RFC 5905 §9.1 / RFC 4330 §5 note).
 */
const RANDOM_FRACTION_BITS = 20;

export interface NtpServer {
  host: string;
  port?: number;
}

export interface SntpOptions {
  /** Whole query budget (DNS lookup + round trip). */
  timeoutMs: number;
  clock: Clock;
  /** Source of the random low bits of the transmit timestamp; defaults to node:crypto. */
  random?: Random;
}

export interface SntpResult {
  /** Add this to the local clock to get the server's time: positive = local clock is behind (RFC 4330 §5). */
  offsetMs: number;
  /** Round-trip delay minus the server's processing time (RFC 4330 §5). */
  roundTripDelayMs: number;
  stratum: number;
  /** `host:port` (IPv6 as `[host]:port`) as queried. */
  server: string;
}

export type SntpErrorCode = 'timeout' | 'dns' | 'socket' | 'invalid_reply' | 'kiss_of_death' | 'unsynchronised';

/** Every failure of `querySntp` is one of these; `code` is stable for metrics and `kairos doctor`. */
export class SntpError extends Error {
  override readonly name = 'SntpError';
  constructor(
    readonly code: SntpErrorCode,
    readonly server: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`SNTP ${server}: ${message}`, options);
  }
}

export type SntpQuery = (server: NtpServer, options: SntpOptions) => Promise<SntpResult>;

/**
 * Parses one `clock.ntp.servers` entry: `host`, `host:port`, `udp://host:port`, `udp://host`, `[v6]:port` or a
 * bare IPv6 literal. Throws a TypeError on anything else (a config mistake should stop startup, not fail silently).
 */
export function parseNtpServer(entry: string): Required<NtpServer> {
  if (typeof entry !== 'string') throw new TypeError('NTP server entry must be a string');
  const trimmed = entry.trim();
  let rest = trimmed;
  const schemeMatch = /^([a-z][a-z0-9+.-]*):\/\//i.exec(rest);
  if (schemeMatch) {
    if (schemeMatch[1]!.toLowerCase() !== 'udp') {
      throw new TypeError(`NTP server "${trimmed}": only udp:// is supported`);
    }
    rest = rest.slice(schemeMatch[0].length).replace(/\/$/, '');
  }
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::([^:]*))?$/.exec(rest);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
    if (isIP(host) !== 6) throw new TypeError(`NTP server "${trimmed}": "${host}" is not an IPv6 address`);
  } else if ((rest.match(/:/g) ?? []).length > 1) {
    // A bare IPv6 literal; a port needs the bracketed form.
    host = rest;
    if (isIP(host) !== 6) throw new TypeError(`NTP server "${trimmed}": use [IPv6]:port`);
  } else {
    const hostPort = /^([A-Za-z0-9._-]+)(?::([^:]*))?$/.exec(rest);
    if (!hostPort) throw new TypeError(`NTP server "${trimmed}": expected host, host:port or udp://host:port`);
    host = hostPort[1]!;
    portText = hostPort[2];
  }
  let port = NTP_DEFAULT_PORT;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65_535)) throw new TypeError(`NTP server "${trimmed}": invalid port "${portText}"`);
  }
  return { host, port };
}

export function formatNtpServer(server: NtpServer): string {
  const port = server.port ?? NTP_DEFAULT_PORT;
  return isIP(server.host) === 6 ? `[${server.host}]:${port}` : `${server.host}:${port}`;
}

/**
 * Queries one server once (RFC 4330 §5) and resolves with the clock offset. Never throws synchronously for network
 * problems: timeouts, DNS and socket errors, and replies that fail validation reject with an `SntpError`, and the
 * socket is always closed.
 *
 * Replies are validated as RFC 4330 §5 asks: mode 4 (server), version 3 or 4 (v3 servers answer v4 clients), a
 * non-zero transmit timestamp, stratum 1–15 (0 is a kiss-o'-death), leap indicator ≠ 3 (unsynchronised). A reply
 * whose originate timestamp is not the transmit timestamp we sent is a spoofed, duplicated or stale packet: it is
 * discarded and we keep waiting for the real one until the timeout.
 */
export function querySntp(server: NtpServer, options: SntpOptions): Promise<SntpResult> {
  const port = server.port ?? NTP_DEFAULT_PORT;
  const label = formatNtpServer({ host: server.host, port });
  const { timeoutMs, clock } = options;
  const random = options.random ?? cryptoRandom;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    return Promise.reject(new TypeError('timeoutMs must be a positive number'));
  }

  return new Promise<SntpResult>((resolve, reject) => {
    let socket: dgram.Socket | undefined;
    let settled = false;
    let discardedReason: string | undefined;

    const finish = (outcome: { error: SntpError } | { result: SntpResult }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (socket) {
        socket.removeAllListeners('message');
        // Keep an error listener: a late ICMP error after close must not become an uncaught 'error' event.
        socket.on('error', () => {});
        try {
          socket.close();
        } catch {
          // Already closed (e.g. the connect failed); nothing to release.
        }
      }
      if ('error' in outcome) reject(outcome.error);
      else resolve(outcome.result);
    };

    const timer = setTimeout(() => {
      const why = discardedReason ? ` (discarded a reply: ${discardedReason})` : '';
      finish({
        error: new SntpError(
          discardedReason ? 'invalid_reply' : 'timeout',
          label,
          `no valid reply within ${timeoutMs} ms${why}`,
        ),
      });
    }, timeoutMs);

    resolveAddress(server.host).then(
      ({ address, family }) => {
        if (settled) return;
        try {
          socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
        } catch (cause) {
          finish({ error: new SntpError('socket', label, `cannot create a UDP socket: ${describe(cause)}`, { cause }) });
          return;
        }
        const s = socket;
        let t1Ms = 0;
        let sentTransmit: Buffer | undefined;

        s.on('error', (cause) => {
          // ECONNREFUSED arrives here when the ICMP "port unreachable" comes back on a connected socket.
          finish({ error: new SntpError('socket', label, describe(cause), { cause }) });
        });

        s.on('message', (packet) => {
          const t4Ms = clock.nowMs();
          if (!sentTransmit) return;
          if (packet.length < NTP_PACKET_BYTES) {
            discardedReason = `short packet of ${packet.length} bytes`;
            return;
          }
          if (!packet.subarray(24, 32).equals(sentTransmit)) {
            discardedReason = 'originate timestamp does not match our request (spoofed or stale reply)';
            return;
          }
          const checked = checkReply(packet, label);
          if ('error' in checked) {
            finish(checked);
            return;
          }
          const t2Ms = readNtpTimestampMs(packet, 32);
          const t3Ms = readNtpTimestampMs(packet, 40);
          finish({
            result: {
              offsetMs: (t2Ms - t1Ms + (t3Ms - t4Ms)) / 2,
              roundTripDelayMs: t4Ms - t1Ms - (t3Ms - t2Ms),
              stratum: checked.stratum,
              server: label,
            },
          });
        });

        // A connected socket only delivers datagrams from the server's address and port (first line of defence
        // against spoofing; the originate check is the second).
        s.connect(port, address, () => {
          if (settled) return;
          const request = Buffer.alloc(NTP_PACKET_BYTES);
          request[0] = (0 << 6) | (VERSION << 3) | MODE_CLIENT; // LI 0, VN 4, mode 3 (RFC 4330 §5)
          t1Ms = clock.nowMs();
          writeNtpTimestamp(request, 40, t1Ms, random);
          sentTransmit = Buffer.from(request.subarray(40, 48));
          s.send(request, (cause) => {
            if (cause) finish({ error: new SntpError('socket', label, `send failed: ${describe(cause)}`, { cause }) });
          });
        });
      },
      (cause) => finish({ error: new SntpError('dns', label, `cannot resolve host: ${describe(cause)}`, { cause }) }),
    );
  });
}

function checkReply(packet: Buffer, label: string): { stratum: number } | { error: SntpError } {
  const leap = packet[0]! >> 6;
  const version = (packet[0]! >> 3) & 0b111;
  const mode = packet[0]! & 0b111;
  const stratum = packet[1]!;
  if (mode !== MODE_SERVER) return { error: new SntpError('invalid_reply', label, `reply has mode ${mode}, expected 4`) };
  if (version !== 3 && version !== 4) {
    return { error: new SntpError('invalid_reply', label, `reply has version ${version}, expected 3 or 4`) };
  }
  if (stratum === 0) {
    // Kiss-o'-death: the reference identifier carries an ASCII code such as RATE or DENY (RFC 4330 §8).
    const kissCode = packet.subarray(12, 16).toString('latin1').replace(/[^\x20-\x7e]/g, '?');
    return { error: new SntpError('kiss_of_death', label, `server sent kiss-o'-death "${kissCode}"`) };
  }
  if (stratum > 15) return { error: new SntpError('invalid_reply', label, `reply has stratum ${stratum}, expected 1–15`) };
  if (leap === LEAP_UNSYNCHRONISED) {
    return { error: new SntpError('unsynchronised', label, 'server reports it is not synchronised (leap indicator 3)') };
  }
  if (packet.readUInt32BE(40) === 0 && packet.readUInt32BE(44) === 0) {
    return { error: new SntpError('invalid_reply', label, 'reply has a zero transmit timestamp') };
  }
  if (packet.readUInt32BE(32) === 0 && packet.readUInt32BE(36) === 0) {
    return { error: new SntpError('invalid_reply', label, 'reply has a zero receive timestamp') };
  }
  return { stratum };
}

/** Unix ms → 64-bit NTP timestamp (32.32 fixed point since 1900, modulo 2^32 s per RFC 4330 §3 eras). */
function writeNtpTimestamp(target: Buffer, offset: number, unixMs: number, random: Random): void {
  const unixSeconds = Math.floor(unixMs / 1000);
  const seconds = (unixSeconds + NTP_UNIX_EPOCH_DELTA_SECONDS) % TWO_POW_32;
  const fraction = Math.floor(((unixMs - unixSeconds * 1000) / 1000) * TWO_POW_32);
  const randomBits = Buffer.from(random.bytes(4)).readUInt32BE(0) & ((1 << RANDOM_FRACTION_BITS) - 1);
  const noisyFraction = (fraction - (fraction % 2 ** RANDOM_FRACTION_BITS) + randomBits) >>> 0;
  target.writeUInt32BE(seconds, offset);
  target.writeUInt32BE(noisyFraction, offset + 4);
}

/**
 * 64-bit NTP timestamp → Unix ms. RFC 4330 §3: if the most significant bit of the seconds is 0, the time is in era 1
 * (from 2036-02-07 06:28:16 UTC), so 2^32 s are added.
 */
function readNtpTimestampMs(source: Buffer, offset: number): number {
  let seconds = source.readUInt32BE(offset);
  const fraction = source.readUInt32BE(offset + 4);
  if (seconds < 2 ** 31) seconds += TWO_POW_32;
  return (seconds - NTP_UNIX_EPOCH_DELTA_SECONDS) * 1000 + (fraction / TWO_POW_32) * 1000;
}

async function resolveAddress(host: string): Promise<{ address: string; family: 4 | 6 }> {
  const literal = isIP(host);
  if (literal !== 0) return { address: host, family: literal as 4 | 6 };
  const { address, family } = await lookup(host);
  return { address, family: family === 6 ? 6 : 4 };
}

function describe(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message;
  }
  return String(cause);
}
