import { describe, expect, it } from 'vitest';
import { anchorNode, imageNode, inputNode, textNode } from '../nodes.js';
import { hostedUiMsg, kairosInfo, kairosWarning, msg } from '../messages.js';
import { groupsOfFour, renderMessage, renderNode } from './render.js';
import { brandPalette, contrastRatio } from './layout.js';
import { renderErrorPage, renderFlowPage } from './pages.js';

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
      msg.settingsLookupSecretList('', [msg.settingsLookupSecret('aaaa-bbbb'), msg.settingsLookupSecretUsed(Date.UTC(2026, 0, 1)), msg.settingsLookupSecret('cccc-dddd'), kairosInfo(1900207, 'Code 4: unused')]),
      msg.settingsLookupSecretLabel(),
    );
    const html = renderNode(node, 0, ctx);
    expect(html).toContain('<li><code>aaaa-bbbb</code></li>');
    expect(html).toContain('<li class="used"><code>used</code>');
    expect(html).toContain('<li class="status"><span>Code 4: unused</span></li>');
    const href = /href="data:text\/plain;charset=utf-8,([^"]+)"/.exec(html)![1]!;
    const file = decodeURIComponent(href);
    expect(file.split('\n').filter((l) => /^[a-z]{4}-[a-z]{4}$/.test(l))).toEqual(['aaaa-bbbb', 'cccc-dddd']);
    expect(html).toContain('download="acme-cloud-backup-codes.txt"');
    // A strategy that links its own download gets no second one.
    expect(renderNode(node, 0, ctx, { withDownload: false })).not.toContain('data:text/plain');
  });

  it('renders a required checkbox inside its label, and code inputs for phone keyboards', () => {
    const box = renderNode(inputNode('lookup_secret', 'lookup_secret_acknowledged', 'checkbox', { value: 'true', required: true, label: kairosInfo(1900203, 'I have saved these codes') }), 3, ctx);
    expect(box).toMatch(/<label class="check" for="t3-lookup_secret_acknowledged"><input type="checkbox" value="true"[^>]* required/);
    expect(box).toContain('I have saved these codes</span></label>');
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
    const hint = renderMessage(kairosWarning(4900003, "Your device's clock is 3 minutes ahead.", { offset_seconds: 180, steps: ['Set the time automatically', 'Enter a new code'] }));
    expect(hint).toContain('class="msg callout error"');
    expect(hint).toContain('role="alert"');
    expect(hint).toContain('<span class="title">Why this did not work</span>');
    expect(hint).toContain('<ol><li>Set the time automatically</li><li>Enter a new code</li></ol>');
    expect(renderMessage(hostedUiMsg.enableSecondFactor())).toContain('<span class="title">Turn on two-factor authentication</span>');
    expect(renderMessage(kairosInfo(1900201, 'Only 2 codes left.', { settings_url: 'http://127.0.0.1/ui/settings' }))).toContain('<a href="http://127.0.0.1/ui/settings">Open account settings</a>');
    expect(renderMessage(kairosInfo(1900201, 'x', { settings_url: 'javascript:alert(1)' }))).toContain('<a href="#">');
    // Kratos's messages stay plain.
    expect(renderMessage(msg.totpWrong())).toBe('<div class="msg error" role="alert" data-testid="ui/message/4000008" data-message-type="error">The provided authentication code is invalid, please try again.</div>');
  });

  it('escapes node values and link targets', () => {
    const html = renderNode(anchorNode('lookup_secret', 'x', 'javascript:alert(1)', kairosInfo(1900205, '<b>Download</b>')), 0, ctx);
    expect(html).toContain('href="#"');
    expect(html).toContain('&lt;b&gt;Download&lt;/b&gt;');
    expect(renderNode(imageNode('totp', 'totp_qr', 'data:image/png;base64,AA"onerror="x', 256, msg.settingsTotpQrCode()), 0, ctx)).not.toContain('"onerror="');
  });

  it('keeps button and link text readable whatever the brand colour', () => {
    expect(contrastRatio('#000000', '#ffffff')).toBeCloseTo(21, 5);
    const light = brandPalette('#ffd400');
    expect(light.onBrand).toBe('#111827');
    expect(light.link).toBe('#1f2937');
    const dark = brandPalette('#0b6e4f');
    expect(dark.onBrand).toBe('#ffffff');
    expect(dark.link).toBe('#0b6e4f');
    for (const p of [light, dark]) expect(contrastRatio(p.brand, p.onBrand)).toBeGreaterThanOrEqual(4.5);
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
    expect(html).toContain('<h1>Two-Factor Authentication</h1>');
    expect(html).toMatch(/<section class="card primary" id="method-totp"/);
    expect(html).toMatch(/<section class="card alt" id="method-lookup_secret"/);
    expect(html).toContain('<a href="#method-lookup_secret" data-testid="ui/switch/lookup_secret">Use a backup code</a>');
    expect(html).toContain('href="/ui/logout?then=recovery" data-testid="ui/link/lost-second-factor">Lost your authenticator and codes?</a>');
    // Each form carries the CSRF token.
    expect(html.match(/name="csrf_token" value="tok"/g)).toHaveLength(2);
    // Without a recovery flow there is no dead link.
    expect(renderFlowPage('login', secondFactorFlow(), brand, { flowKinds: ['login'] })).not.toContain('/ui/recovery');
  });

  it('second-factor page after a rejected code shows every option', () => {
    const html = renderFlowPage('login', secondFactorFlow([msg.totpWrong()]), brand);
    expect(html).toMatch(/<section class="card alt open" id="method-lookup_secret"/);
  });

  it('settings page lists the factors with their dates', () => {
    const html = renderFlowPage('settings', { ui: { action: '/a', method: 'POST', nodes: [csrf] } }, brand, {
      factors: [
        { type: 'password', label: 'Password', enrolled: true, sinceMs: Date.UTC(2026, 11, 1, 20, 31) },
        { type: 'totp', label: 'Authenticator app', enrolled: false, sinceMs: null },
      ],
    });
    expect(html).toMatch(/data-testid="ui\/factor\/password" data-enrolled="true"><span>Password<span class="when">Added 1 Dec 2026, 20:31 UTC<\/span>/);
    expect(html).toContain('data-testid="ui/factor/totp" data-enrolled="false"');
  });

  it('error page explains what happened and what to do', () => {
    const html = renderErrorPage({ id: 'security_csrf_violation', code: 403, status: 'Forbidden', reason: 'The request was rejected to protect you from Cross-Site-Request-Forgery (CSRF)', message: 'the request was rejected' }, brand);
    expect(html).toContain('<h1>This form could not be verified</h1>');
    expect(html).toContain('Allow cookies');
    expect(html).toContain('<dd>security_csrf_violation</dd>');
    expect(renderErrorPage(null, brand)).toContain('This error could not be found');
  });
});
