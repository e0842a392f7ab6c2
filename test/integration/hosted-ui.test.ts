import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKairos, type TestKairos } from '../support/harness.js';
import { BrowserClient } from '../support/browser-client.js';
import { escapeHtml } from '../../src/ui/hosted/pages.js';

/** Follows redirects like a browser would, returning the final HTML. */
async function visit(browser: BrowserClient, path: string): Promise<{ url: string; html: string; status: number }> {
  let url = path.startsWith('http') ? path : browser.baseUrl + path;
  for (let i = 0; i < 10; i++) {
    const res = await browser.get(url, { accept: 'text/html' });
    if (res.status === 303) {
      url = new URL(res.headers.get('location')!, url).toString();
      continue;
    }
    return { url, html: await res.text(), status: res.status };
  }
  throw new Error('too many redirects');
}

function formFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[m[1]!] = m[2]!;
  return fields;
}

describe('hosted UI works without JavaScript', () => {
  let k: TestKairos;
  beforeAll(async () => {
    k = await startKairos({ dialect: 'sqlite' });
  });
  afterAll(async () => k?.close());

  it('registration page: every visible input has a label, the form posts to the flow, and the user lands signed in', async () => {
    const browser = new BrowserClient(k.publicUrl);
    const page = await visit(browser, '/ui/registration');
    expect(page.status).toBe(200);
    expect(page.url).toMatch(/\/ui\/registration\?flow=/);
    const inputIds = [...page.html.matchAll(/<input id="([^"]+)"/g)].map((m) => m[1]);
    expect(inputIds.length).toBeGreaterThanOrEqual(2);
    for (const id of inputIds) expect(page.html).toContain(`<label for="${id}">`);
    const action = /<form method="POST" action="([^"]+)"/.exec(page.html)![1]!.replaceAll('&amp;', '&');
    const res = await browser.postForm(action, { ...formFields(page.html), method: 'password', 'traits.email': 'ui@example.com', password: 'a long enough passphrase' });
    expect(res.status).toBe(303);
    const welcome = await visit(browser, res.headers.get('location')!);
    expect(welcome.html).toContain('ui@example.com');
    expect(welcome.html).toContain('aal1');
  });

  it('shows validation messages with their ids after a failed login', async () => {
    const browser = new BrowserClient(k.publicUrl);
    const page = await visit(browser, '/ui/login');
    const action = /<form method="POST" action="([^"]+)"/.exec(page.html)![1]!.replaceAll('&amp;', '&');
    const res = await browser.postForm(action, { ...formFields(page.html), method: 'password', identifier: 'ui@example.com', password: 'wrong password value' });
    const again = await visit(browser, res.headers.get('location')!);
    expect(again.html).toContain('data-testid="ui/message/4000006"');
  });

  it('escapes hostile values', () => {
    expect(escapeHtml('<script>alert("x")</script>')).toBe('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
  });
});
