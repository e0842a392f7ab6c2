/**
 * Kairos's outgoing HTTP client (web hooks and their remote Jsonnet templates), with Kratos's `clients.http` keys:
 *
 * - `disallow_private_ip_ranges`: refuse every destination that is not a global unicast address — private
 *   (RFC 1918, fc00::/7), loopback, link-local (169.254.0.0/16, where cloud metadata lives), carrier-grade NAT,
 *   unspecified, multicast, broadcast, reserved, and IPv4-mapped forms of any of them. The check is made on the
 *   address the connection is actually opened to, after DNS resolution (undici's connector with a checking
 *   `lookup`), so a public name that resolves to 127.0.0.1, or re-resolves to it later (DNS rebinding), is refused
 *   as well as a literal `http://10.0.0.1/`.
 * - `private_ip_exception_urls`: request URLs (exact, case-sensitive match, as Kratos) that may reach private
 *   addresses anyway.
 *
 * Redirects are followed here, hop by hop (at most 10, as Go's http.Client), so every hop is checked on its own:
 * an exempt URL that redirects elsewhere does not carry its exemption along. 301/302/303 turn into a GET without
 * a body (HEAD stays HEAD); 307/308 repeat the method and body, as Go does.
 */
import { isIP } from 'node:net';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import ipaddr from 'ipaddr.js';
import { Agent, buildConnector, fetch as undiciFetch, type Dispatcher } from 'undici';

export interface OutboundHttpOptions {
  disallowPrivateIpRanges: boolean;
  privateIpExceptionUrls?: readonly string[];
}

export interface OutboundRequest {
  method: string;
  headers: Headers;
  body?: string;
  signal?: AbortSignal;
}

export interface OutboundResponse {
  status: number;
  /**
   * The body as text, read only up to `maxBytes`: a larger answer (by its Content-Length, or once more bytes than
   * that have arrived) is not read further and fails with ResponseTooLargeError.
   */
  text(maxBytes: number): Promise<string>;
  /** Drops the body unread (the connection is closed rather than drained). */
  discard(): Promise<void>;
}

/** An answer larger than the caller reads. Its message says how large, never what it held. */
export class ResponseTooLargeError extends Error {
  readonly code = 'KAIROS_RESPONSE_TOO_LARGE';
  constructor(readonly maxBytes: number) {
    super(`the answer is larger than ${maxBytes} bytes`);
  }
}

/** A response body read as text up to `maxBytes` (see OutboundResponse.text). */
async function readText(body: ReadableStream<Uint8Array> | null, contentLength: string | null, maxBytes: number): Promise<string> {
  if (!body) return '';
  if (contentLength !== null && Number(contentLength) > maxBytes) {
    await body.cancel().catch(() => undefined);
    throw new ResponseTooLargeError(maxBytes);
  }
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new ResponseTooLargeError(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A destination `disallow_private_ip_ranges` forbids. Its message names the address, never a URL's secrets. */
export class PrivateAddressError extends Error {
  readonly code = 'KAIROS_PRIVATE_ADDRESS';
  constructor(readonly address: string) {
    super(`refusing to connect to ${address}: clients.http.disallow_private_ip_ranges forbids private, loopback, link-local and reserved addresses`);
  }
}

/** True for a global unicast address (the only kind allowed when private ranges are disallowed). */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  return parsed.range() === 'unicast';
}

const MAX_REDIRECTS = 10;
const REDIRECT = new Set([301, 302, 303, 307, 308]);

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** `dns.lookup` that fails instead of answering with an address the client may not connect to. */
function checkedLookup(hostname: string, options: { all?: boolean } & Record<string, unknown>, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const list = addresses as LookupAddress[];
    const refused = list.find((a) => !isPublicAddress(a.address));
    if (refused) return callback(new PrivateAddressError(refused.address) as NodeJS.ErrnoException, []);
    if (options.all) return callback(null, list);
    const first = list[0];
    if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
    callback(null, first.address, first.family);
  });
}

export class OutboundHttp {
  private readonly open: Dispatcher;
  private readonly restricted: Dispatcher | null;
  private readonly exceptions: ReadonlySet<string>;

  constructor(options: OutboundHttpOptions) {
    this.open = new Agent();
    this.exceptions = new Set(options.privateIpExceptionUrls ?? []);
    if (!options.disallowPrivateIpRanges) {
      this.restricted = null;
      return;
    }
    const connect = buildConnector({ lookup: checkedLookup as never });
    this.restricted = new Agent({
      connect(opts, callback) {
        // A literal address is never looked up, so it is checked here; names are checked by `checkedLookup`.
        const host = opts.hostname.replace(/^\[|\]$/g, '');
        if (isIP(host) && !isPublicAddress(host)) return callback(new PrivateAddressError(host), null);
        return connect(opts, callback);
      },
    });
  }

  /** One request, redirects followed (each hop checked), the final answer's status and body stream. */
  async request(url: string, init: OutboundRequest): Promise<OutboundResponse> {
    let current = new URL(url);
    let method = init.method;
    let body = init.body;
    const headers = new Headers(init.headers);
    for (let hop = 0; ; hop++) {
      const exempt = this.exceptions.has(current.toString()) || (hop === 0 && this.exceptions.has(url));
      const dispatcher = this.restricted && !exempt ? this.restricted : this.open;
      let response: Awaited<ReturnType<typeof undiciFetch>>;
      try {
        response = await undiciFetch(current, { method, headers, body, redirect: 'manual', dispatcher, ...(init.signal ? { signal: init.signal } : {}) });
      } catch (err) {
        throw unwrapPrivate(err) ?? err;
      }
      const location = response.headers.get('location');
      if (!REDIRECT.has(response.status) || location === null) {
        const body = response.body as ReadableStream<Uint8Array> | null;
        const contentLength = response.headers.get('content-length');
        return {
          status: response.status,
          text: (maxBytes) => readText(body, contentLength, maxBytes),
          discard: async () => void (await body?.cancel().catch(() => undefined)),
        };
      }
      await response.body?.cancel();
      if (hop >= MAX_REDIRECTS) throw new Error(`stopped after ${MAX_REDIRECTS} redirects`);
      if (response.status <= 303 && method !== 'HEAD') {
        method = 'GET';
        body = undefined;
        headers.delete('content-type');
        headers.delete('content-length');
      }
      const next = new URL(location, current);
      // Go's client drops credentials when a redirect leaves the original host.
      if (next.host !== current.host) {
        headers.delete('authorization');
        headers.delete('cookie');
      }
      current = next;
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.open.close(), this.restricted?.close()]);
  }
}

/** undici wraps connector errors (`fetch failed`, cause …): the refusal, wherever it sits in the chain. */
function unwrapPrivate(err: unknown): PrivateAddressError | null {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof PrivateAddressError) return e;
  }
  return null;
}
