import { describe, expect, it } from 'vitest';
import { anchorNode, imageNode, inputNode, textNode } from '../nodes.js';
import { hostedUiMsg, kairosInfo, kairosWarning, msg } from '../messages.js';
import { groupsOfFour, renderMessage, renderNode } from './render.js';
import { brandPalette, contrastRatio, favicon, page, SCHEMES } from './layout.js';
import { translator } from '../i18n/catalogue.js';
import { lookupMsg } from '../../credentials/lookup-secret/messages.js';
import { renderErrorPage, renderFlowPage } from './pages.js';
import { addressesCard } from './settings.js';

const brand = { name: 'Acme Cloud', primary_color: '#0b6e4f' };
const ctx = { idPrefix: 't', brandName: 'Acme Cloud' };
const csrf = inputNode('default', 'csrf_token', 'hidden', { value: 'tok', required: true });

describe('hosted UI renderer', () => {
  it('shows a secret in groups of four and copies it without the spaces', () => {
    expect(groupsOfFour('ABCDEFGHIJKLMN')).toBe('ABCD EFGH IJKL MN');
    const html = renderNode(textNode('totp', 'totp_secret_key', msg.settingsTotpSecret('ABCDEFGHIJKL'), msg.settingsTotpSecretLabel()), 1, ctx);
    expect(html).toContain('>ABCD EFGH IJKL</code>');
    expect(html).toContain('data-copy="ABCDEFGHIJKL"');
    // The copy button exists for JavaScript only (hidden by CSS until the script marks the page).
    expect(html).toMatch(/<button type="button"[^>]*data-js-only[^>]*data-copy-target="t1-totp_secret_key"/);
  });

  it('renders recovery codes as a grid, used codes struck through, status lines as text, with a .txt download of the unused ones', () => {
    const node = textNode(
      'lookup_secret',
      'lookup_secret_codes',
      msg.settingsLookupSecretList('', [msg.settingsLookupSecret('aaaa-bbbb'), msg.settingsLookupSecretUsed(Date.UTC(2026, 0, 1)), msg.settingsLookupSecret('cccc-dddd'), lookupMsg.codeUnused(4)]),
      msg.settingsLookupSecretLabel(),
    );
    const html = renderNode(node, 0, ctx);
    expect(html).toContain('<li><code>aaaa-bbbb</code></li>');
    expect(html).toContain('<li class="used"><code>used</code>');
    expect(html).toContain('<li class="status"><span>Code 4: unused</span></li>');
    const href = /href="data:text\/plain;charset=utf-8,([^"]+)"/.exec(html)![1]!;
    const file = decodeURIComponent(href);
    expect([...file.matchAll(/^\d+\. ([a-z]{4}-[a-z]{4})$/gm)].map((m) => m[1])).toEqual(['aaaa-bbbb', 'cccc-dddd']);
    expect(file.split('\n')[0]).toBe('Acme Cloud backup codes');
    // In German the page and the file speak German; the codes are the same.
    const german = renderNode(node, 0, { ...ctx, t: translator('de') });
    expect(german).toContain('<li class="used"><code>verwendet</code><span class="tag">Verwendet am 1. Jan. 2026, 00:00 UTC</span>');
    expect(german).toContain('<li class="status"><span>Code 4: unbenutzt</span></li>');
    expect(decodeURIComponent(/href="data:text\/plain;charset=utf-8,([^"]+)"/.exec(german)![1]!)).toContain('Acme Cloud Backup-Codes');
    expect(html).toContain('download="acme-cloud-backup-codes.txt"');
    // A strategy that links its own download gets no second one.
    expect(renderNode(node, 0, ctx, { withDownload: false })).not.toContain('data:text/plain');
  });

  it('renders a required checkbox inside its label, and code inputs for phone keyboards', () => {
    const box = renderNode(inputNode('lookup_secret', 'lookup_secret_acknowledged', 'checkbox', { value: 'true', required: true, label: kairosInfo(1900203, 'I have saved these codes') }), 3, ctx);
    expect(box).toMatch(/<label class="check" for="t3-lookup_secret_acknowledged"><input type="checkbox" value="true"[^>]* required/);
    expect(box).toContain('I have saved these backup codes in a safe place</span></label>');
    expect(box).not.toContain('checked');
    expect(renderNode(inputNode('profile', 'traits.newsletter', 'checkbox', { value: true }), 0, ctx)).toContain(' checked');
    const code = renderNode(inputNode('totp', 'totp_code', 'text', { inputmode: 'numeric', autocomplete: 'one-time-code', label: msg.loginTotpLabel() }), 2, ctx);
    expect(code).toContain('inputmode="numeric"');
    expect(code).toContain('autocomplete="one-time-code"');
    expect(code).toContain('<label for="t2-totp_code">Authentication code</label>');
  });

  it('ties a field message to its input for screen readers', () => {
    const node = inputNode('totp', 'totp_code', 'text', { label: msg.labelVerifyCode() });
    node.messages.push(msg.totpWrong());
    const html = renderNode(node, 5, ctx);
    expect(html).toContain('aria-describedby="t5-totp_code-msg0"');
    expect(html).toContain('id="t5-totp_code-msg0"');
  });

  it("shows Kairos's own messages as callouts with a title, steps and a safe link", () => {
    const hint = renderMessage(kairosWarning(4900003, "Your device's clock is 3 minutes ahead.", { offset_seconds: 180, direction: 'ahead', steps: ['Set the time automatically', 'Enter a new code'] }));
    expect(hint).toContain('about 3 minutes ahead');
    expect(hint).toContain('class="msg callout error"');
    expect(hint).toContain('role="alert"');
    expect(hint).toContain('<span class="title">Why this did not work</span>');
    expect(hint).toContain('<ol><li>Set the time automatically</li><li>Enter a new code</li></ol>');
    expect(renderMessage(hostedUiMsg.enableSecondFactor())).toContain('<span class="title">Turn on two-step sign-in</span>');
    expect(renderMessage(hostedUiMsg.enableSecondFactor(), { t: translator('de') })).toContain('<span class="title">Anmeldung in zwei Schritten einschalten</span>');
    expect(renderMessage(kairosInfo(1900201, 'Only 2 codes left.', { settings_url: 'http://127.0.0.1/ui/settings' }))).toContain('<a href="http://127.0.0.1/ui/settings">Open account settings</a>');
    expect(renderMessage(kairosInfo(1900201, 'x', { settings_url: 'javascript:alert(1)' }))).toContain('<a href="#">');
    // Kratos's messages stay plain, in the catalogue's words (the API keeps Kratos's text).
    expect(renderMessage(msg.totpWrong())).toBe('<div class="msg error" role="alert" data-testid="ui/message/4000008" data-message-type="error">This code is not right. Enter the code your authenticator app shows now.</div>');
  });

  it('escapes node values and link targets', () => {
    const html = renderNode(anchorNode('lookup_secret', 'x', 'javascript:alert(1)', kairosInfo(1999999, '<b>Download</b>')), 0, ctx);
    expect(html).toContain('href="#"');
    expect(html).toContain('&lt;b&gt;Download&lt;/b&gt;');
    const address = renderMessage(kairosInfo(1900305, 'x', { address: '<img src=x onerror=alert(1)>@example.com' }));
    expect(address).not.toContain('<img');
    expect(renderNode(imageNode('totp', 'totp_qr', 'data:image/png;base64,AA"onerror="x', 256, msg.settingsTotpQrCode()), 0, ctx)).not.toContain('"onerror="');
  });

  it('keeps button and link text readable whatever the brand colour', () => {
    expect(contrastRatio('#000000', '#ffffff')).toBeCloseTo(21, 5);
    const yellow = brandPalette('#ffd400');
    expect(yellow.onBrand).toBe('#111827');
    // Yellow text is unreadable on white: links keep the hue, darkened just enough.
    expect(yellow.link).not.toBe('#ffd400');
    const green = brandPalette('#0b6e4f');
    expect(green.onBrand).toBe('#ffffff');
    expect(green.link).toBe('#0b6e4f');
    // Dark mode: the same green is too dark on a dark page, so links are lightened.
    expect(brandPalette('#0b6e4f', 'dark').link).not.toBe('#0b6e4f');
    for (const color of ['#0b6e4f', '#ffd400', '#4f46e5', '#777777', '#ff0000', '#000000', '#ffffff', '#00ffff']) {
      for (const scheme of ['light', 'dark'] as const) {
        const p = brandPalette(color, scheme);
        expect(contrastRatio(p.brand, p.onBrand), `${color} ${scheme} button`).toBeGreaterThanOrEqual(4.5);
        for (const bg of [SCHEMES[scheme].bg, SCHEMES[scheme].card]) expect(contrastRatio(p.link, bg), `${color} ${scheme} link on ${bg}`).toBeGreaterThanOrEqual(4.5);
      }
    }
  });
});

describe('hosted UI pages', () => {
  const secondFactorFlow = (messages?: ReturnType<typeof msg.totpWrong>[]) => ({
    requested_aal: 'aal2',
    refresh: false,
    ui: {
      action: 'http://127.0.0.1/self-service/login?flow=f',
      method: 'POST',
      messages: messages ?? [msg.loginMfa()],
      nodes: [
        csrf,
        inputNode('totp', 'totp_code', 'text', { required: true, label: msg.loginTotpLabel() }),
        inputNode('totp', 'method', 'submit', { value: 'totp', label: msg.loginUseTotp() }),
        inputNode('lookup_secret', 'lookup_secret', 'text', { required: true, label: msg.loginLookupLabel() }),
        inputNode('lookup_secret', 'method', 'submit', { value: 'lookup_secret', label: msg.loginUseLookup() }),
      ],
    },
  });

  it('second-factor page: the app first, "Use a backup code" as a link that works without JavaScript, and a way to recovery', () => {
    const html = renderFlowPage('login', secondFactorFlow(), brand, { flowKinds: ['login', 'registration', 'settings', 'recovery'] });
    expect(html).toContain('<h1>Two-step sign-in</h1>');
    expect(html).toMatch(/<section class="card primary" id="method-totp"/);
    expect(html).toMatch(/<section class="card alt" id="method-lookup_secret"/);
    expect(html).toContain('<a href="#method-lookup_secret" data-testid="ui/switch/lookup_secret">Use a backup code</a>');
    // The way back to the app is only shown (by CSS) once the backup-code form replaced it: never a link to what is on screen.
    expect(html).toContain('<a href="#method-totp" class="to-primary" data-testid="ui/switch/totp">Use your authenticator app</a>');
    expect(html).toContain('.alt-links a.to-primary{display:none}');
    expect(html).toContain('href="/ui/logout?then=recovery" data-testid="ui/link/lost-second-factor">Lost your authenticator app and backup codes?</a>');
    // Each form carries the CSRF token.
    expect(html.match(/name="csrf_token" value="tok"/g)).toHaveLength(2);
    // Without a recovery flow there is no dead link.
    expect(renderFlowPage('login', secondFactorFlow(), brand, { flowKinds: ['login'] })).not.toContain('/ui/recovery');
  });

  it('second-factor page after a rejected code shows every option, and no links to forms already shown', () => {
    const html = renderFlowPage('login', secondFactorFlow([msg.totpWrong()]), brand);
    expect(html).toMatch(/<section class="card alt open" id="method-lookup_secret"/);
    expect(html).not.toContain('data-testid="ui/switch/');
  });

  it('speaks the reader\'s language: lang attribute, words, and a switcher back to the same page', () => {
    const shell = { t: translator('de'), languages: ['en', 'de'] as const, path: '/ui/login?flow=abc' };
    const html = renderFlowPage('login', secondFactorFlow(), brand, { shell: { ...shell, languages: [...shell.languages] } });
    expect(html).toContain('<html lang="de">');
    expect(html).toContain('<h1>Anmeldung in zwei Schritten</h1>');
    expect(html).toContain('Backup-Code verwenden');
    expect(html).toContain('href="/ui/language?lang=en&amp;return_to=%2Fui%2Flogin%3Fflow%3Dabc" lang="en" hreflang="en" data-testid="ui/language/en">English</a>');
    expect(html).toContain('aria-current="true" data-testid="ui/language/de">Deutsch</a>');
    expect(html).toContain('<link rel="icon" href="/ui/favicon.svg"');
    expect(html).toContain('@media (prefers-color-scheme:dark)');
  });

  it('labels the identifier "Email" when every identifier is an email address', () => {
    const flow = { ui: { action: '/a', method: 'POST', nodes: [csrf, inputNode('default', 'identifier', 'text', { label: msg.labelId() })] } };
    expect(renderFlowPage('login', flow, brand, { identifierIsEmail: true })).toMatch(/<label for="n1-identifier">Email<\/label>/);
    expect(renderFlowPage('login', flow, brand, { identifierIsEmail: false })).toMatch(/<label for="n1-identifier">Username<\/label>/);
  });

  const settingsFlow = () => ({
    id: '2b1c6a0e-7d0b-4a57-9a3e-4f6d2a1b9c00',
    ui: {
      action: '/a',
      method: 'POST',
      nodes: [
        csrf,
        inputNode('password', 'password', 'password', { label: msg.labelPassword() }),
        inputNode('password', 'method', 'submit', { value: 'password', label: msg.labelSave() }),
        imageNode('totp', 'totp_qr', 'data:image/png;base64,AA', 256, msg.settingsTotpQrCode()),
        textNode('totp', 'totp_secret_key', msg.settingsTotpSecret('ABCDEFGHIJKL'), msg.settingsTotpSecretLabel()),
        inputNode('totp', 'totp_code', 'text', { label: msg.labelVerifyCode() }),
        inputNode('totp', 'method', 'submit', { value: 'totp', label: msg.labelSave() }),
      ],
    },
  });

  it('settings: sections with navigation; factors with when they were added and last used; devices and addresses', () => {
    const html = renderFlowPage('settings', settingsFlow(), brand, {
      factors: [
        { type: 'password', label: 'password', enrolled: true, sinceMs: Date.UTC(2026, 11, 1, 20, 31), lastUsedMs: Date.UTC(2026, 11, 3, 8, 0) },
        { type: 'totp', label: 'totp', enrolled: false, sinceMs: null },
      ],
      settings: {
        flowId: 'f',
        csrfToken: 'tok',
        addresses: [{ value: 'me@example.com', verified: false }],
        devices: [
          { id: 's1', current: true, userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', ipAddress: '127.0.0.1', authenticatedAtMs: Date.UTC(2026, 11, 4) },
          { id: 's2', current: false, userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1', ipAddress: null, authenticatedAtMs: Date.UTC(2026, 11, 2) },
        ],
      },
    });
    const nav = /<nav class="sections"[^>]*><ul>(.*?)<\/ul><\/nav>/.exec(html)![1]!;
    expect([...nav.matchAll(/href="#([a-z-]+)"/g)].map((m) => m[1])).toEqual(['password', 'two-factor', 'email', 'sessions']);
    for (const id of ['password', 'two-factor', 'email', 'sessions']) expect(html).toContain(`<h2 class="section" id="${id}">`);
    expect(html).toContain('data-testid="ui/factor/password" data-enrolled="true">Added Dec 1, 2026, 08:31 PM UTC · last used Dec 3, 2026, 08:00 AM UTC</p>');
    expect(html).toContain('data-testid="ui/factor/totp" data-enrolled="false"');
    expect(html).toContain('data-testid="ui/address" data-verified="false"');
    expect(html).toContain('Your address me@example.com is not verified yet.');
    expect(html).toContain('Chrome on Linux');
    expect(html).toMatch(/Safari on iOS.*aria-label="Sign out Safari on iOS"/);
    expect(html).toMatch(/<form method="POST" action="\/ui\/sessions\/revoke"><input type="hidden" name="csrf_token" value="tok">/);
  });

  it('settings: the QR code and secret are shown only after "Set up an authenticator app", in the same flow', () => {
    const offer = renderFlowPage('settings', settingsFlow(), brand);
    expect(offer).not.toContain('data:image/png');
    expect(offer).not.toContain('ABCD EFGH');
    expect(offer).toContain('href="/ui/settings?flow=2b1c6a0e-7d0b-4a57-9a3e-4f6d2a1b9c00&amp;setup=totp#method-totp" data-testid="ui/totp/setup">Set up an authenticator app</a>');
    const setup = renderFlowPage('settings', settingsFlow(), brand, { showTotpSetup: true, totpIssuer: 'Acme Cloud' });
    expect(setup).toContain('data:image/png');
    expect(setup).toContain('The app lists this account as “Acme Cloud”.');
  });

  it('shows the logo from ui.brand.logo_url beside the name, and a favicon in the brand colour', () => {
    const html = page('x', { ...brand, logo_url: 'https://cdn.example/logo.svg?a=1&b="2"' }, '');
    expect(html).toContain('<img src="https://cdn.example/logo.svg?a=1&amp;b=&quot;2&quot;" alt="">');
    expect(html).toContain('<a class="name" href="/ui/welcome">Acme Cloud</a>');
    expect(page('x', brand, '')).not.toContain('<img');
    const icon = favicon({ name: '<Ärger>', primary_color: '#0b6e4f' });
    expect(icon).toContain('fill="#0b6e4f"');
    expect(icon).toContain('>&lt;</text>');
  });

  it('error page explains what happened and what to do', () => {
    const html = renderErrorPage({ id: 'security_csrf_violation', code: 403, status: 'Forbidden', reason: 'The request was rejected to protect you from Cross-Site-Request-Forgery (CSRF)', message: 'the request was rejected' }, brand);
    expect(html).toContain('<h1>This form could not be verified</h1>');
    expect(html).toContain('Allow cookies');
    expect(html).toContain('<dd>security_csrf_violation</dd>');
    expect(renderErrorPage(null, brand)).toContain('This error could not be found');
  });

  it('settings list phone numbers beside email addresses, each with its verified state (issue 15)', () => {
    const html = addressesCard(translator('de'), [
      { value: 'jane@example.com', verified: true, via: 'email' },
      { value: '+4915123456789', verified: false, via: 'sms' },
    ]);
    expect(html).toContain('E-Mail und Telefon');
    expect(html).toMatch(/data-verified="false"><span>\+4915123456789<\/span>/);
    // The recovery warning is about email addresses (phone numbers receive no recovery codes).
    expect(html).not.toContain('ui/address/unverified-warning');
  });
});
