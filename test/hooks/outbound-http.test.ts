/**
 * The outgoing client's SSRF guard (`clients.http.disallow_private_ip_ranges`): which addresses count as private,
 * and that the check holds on the connected address (names, literals, redirects), with exact-match exceptions.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPublicAddress, OutboundHttp, PrivateAddressError } from '../../src/hooks/outbound-http.js';

describe('isPublicAddress', () => {
  it.each([
    '127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '255.255.255.255', '224.0.0.1',
    '::1', '::', 'fc00::1', 'fd12:3456::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'not an address',
  ])('SSRF: %s is not a public destination', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('%s is public', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });
});

describe('OutboundHttp with private ranges disallowed', () => {
  let server: Server;
  let port: number;
  const hits: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits.push(req.url!);
      if (req.url === '/exempt-redirect') return res.writeHead(302, { location: `http://127.0.0.1:${port}/target` }).end();
      res.writeHead(200).end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const client = () => new OutboundHttp({ disallowPrivateIpRanges: true, privateIpExceptionUrls: [`http://127.0.0.1:${port}/exempt`, `http://127.0.0.1:${port}/exempt-redirect`] });
  const get = (http: OutboundHttp, url: string) => http.request(url, { method: 'GET', headers: new Headers() });

  it('SSRF: refuses a literal loopback address and a name that resolves to one, before any byte is sent', async () => {
    const http = client();
    await expect(get(http, `http://127.0.0.1:${port}/literal`)).rejects.toBeInstanceOf(PrivateAddressError);
    await expect(get(http, `http://localhost:${port}/name`)).rejects.toBeInstanceOf(PrivateAddressError);
    expect(hits).not.toContain('/literal');
    expect(hits).not.toContain('/name');
    await http.close();
  });

  it('calls an exempt URL, but its redirect to another private URL is checked again and refused', async () => {
    const http = client();
    const response = await get(http, `http://127.0.0.1:${port}/exempt`);
    expect(response.status).toBe(200);
    await expect(get(http, `http://127.0.0.1:${port}/exempt-redirect`)).rejects.toBeInstanceOf(PrivateAddressError);
    expect(hits).toContain('/exempt-redirect');
    expect(hits).not.toContain('/target');
    await http.close();
  });

  it('without the setting, private addresses are reachable (Kratos\'s default)', async () => {
    const http = new OutboundHttp({ disallowPrivateIpRanges: false });
    expect((await get(http, `http://localhost:${port}/open`)).status).toBe(200);
    await http.close();
  });
});
