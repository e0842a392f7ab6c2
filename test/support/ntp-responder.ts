/**
 * A tiny SNTP server for tests (RFC 4330 §5 server side), bound to 127.0.0.1 on an ephemeral port. It answers with
 * the injected clock shifted by `offsetMs`, so a client sharing the same clock should measure `offsetMs`.
 *
 * The timestamp encoding here is written independently of `src/mfa/clock/sntp.ts` (BigInt fixed point instead of
 * floating point) so a shared encoding bug cannot hide in the tests.
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../src/support/clock.js';

export interface NtpResponderOptions {
  /** The responder's time is `clock.nowMs() + offsetMs`: positive = real time is ahead of the client's clock. */
  offsetMs: number;
  clock: Clock;
  /** Default 2. 0 makes a kiss-o'-death reply carrying `kissCode`. */
  stratum?: number;
  /** Leap indicator, default 0; 3 = unsynchronised. */
  leap?: number;
  /** Version in the reply, default 4. */
  version?: number;
  /** Mode in the reply, default 4 (server). */
  mode?: number;
  /** Reference identifier for stratum 0, default "RATE". */
  kissCode?: string;
  /** Reply with an originate timestamp that is NOT the request's transmit timestamp (a spoofed or stale reply). */
  echoWrongOriginate?: boolean;
  /** Receive requests but never answer (to exercise the client's timeout). */
  silent?: boolean;
}

export interface NtpResponder {
  port: number;
  /** Requests received so far. */
  readonly requests: number;
  close(): Promise<void>;
}

const NTP_UNIX_EPOCH_DELTA_SECONDS = 2_208_988_800n;

/** Integer Unix ms → NTP 32.32 fixed point, written at `offset`. */
function writeTimestamp(target: Buffer, offset: number, unixMs: number): void {
  const ms = BigInt(Math.floor(unixMs));
  const seconds = ms / 1000n + NTP_UNIX_EPOCH_DELTA_SECONDS;
  const fraction = ((ms % 1000n) << 32n) / 1000n;
  target.writeBigUInt64BE(((seconds & 0xffff_ffffn) << 32n) | fraction, offset);
}

export async function startNtpResponder(options: NtpResponderOptions): Promise<NtpResponder> {
  const socket = dgram.createSocket('udp4');
  let requests = 0;
  socket.on('message', (request, remote) => {
    requests += 1;
    if (options.silent || request.length < 48) return;
    const receiveMs = options.clock.nowMs() + options.offsetMs;
    const reply = Buffer.alloc(48);
    const leap = options.leap ?? 0;
    const version = options.version ?? 4;
    const mode = options.mode ?? 4;
    const stratum = options.stratum ?? 2;
    reply[0] = (leap << 6) | (version << 3) | mode;
    reply[1] = stratum;
    reply[2] = request[2]!; // poll: copied from the request (RFC 4330 §5)
    reply.writeInt8(-20, 3); // precision ≈ 1 µs
    if (stratum === 0) reply.write((options.kissCode ?? 'RATE').padEnd(4, ' ').slice(0, 4), 12, 'latin1');
    else reply.write('LOCL', 12, 'latin1');
    writeTimestamp(reply, 16, receiveMs); // reference timestamp
    request.copy(reply, 24, 40, 48); // originate = the client's transmit timestamp
    if (options.echoWrongOriginate) reply[31] = reply[31]! ^ 0xff;
    writeTimestamp(reply, 32, receiveMs);
    writeTimestamp(reply, 40, options.clock.nowMs() + options.offsetMs); // transmit, read after receive
    socket.send(reply, remote.port, remote.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return {
    port: (socket.address() as AddressInfo).port,
    get requests() {
      return requests;
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function unusedUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const { port } = socket.address() as AddressInfo;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}
