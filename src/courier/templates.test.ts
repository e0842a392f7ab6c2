import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { substitute, templateFolder, Templates, TEMPLATE_TYPES } from './templates.js';
import { CourierWorker, BASE_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS } from './worker.js';

describe('courier templates', () => {
  it('maps template types to Kratos folders', () => {
    expect(templateFolder('verification_code_valid')).toBe('verification_code/valid');
    expect(templateFolder('recovery_code_invalid')).toBe('recovery_code/invalid');
    expect(templateFolder('mfa_reset_requested')).toBe('mfa_reset/requested');
  });

  it('substitutes Go-template field references only, and unknown fields become empty', () => {
    expect(substitute('a {{ .X }} b {{.Y}} c {{- .Z -}} {{ .Missing }}!', { X: 1, Y: 'two', Z: 'three' })).toBe('a 1 b two c three !');
    expect(substitute('{{ if .X }}kept{{ end }}', { X: 1 })).toBe('{{ if .X }}kept{{ end }}');
  });

  it('escapes values in the HTML body but not in the text body, and keeps subjects on one line', () => {
    const rendered = new Templates(undefined).render('verification_code_valid', 'a@example.com', { VerificationCode: '<b>1</b>', VerificationURL: 'http://x/?a=1&b=2', ExpiresInMinutes: 15 });
    expect(rendered.text).toContain('<b>1</b>');
    expect(rendered.html).toContain('&lt;b&gt;1&lt;/b&gt;');
    expect(rendered.html).toContain('href="http://x/?a=1&amp;b=2"');
    expect(rendered.subject).not.toMatch(/[\r\n]/);
  });

  it('has a text and an HTML template for every type', () => {
    const templates = new Templates(undefined);
    for (const type of TEMPLATE_TYPES) {
      const r = templates.render(type, 'a@example.com', {});
      expect(r.subject.length, type).toBeGreaterThan(0);
      expect(r.text.length, type).toBeGreaterThan(0);
      expect(r.html, type).toMatch(/^<p>/);
    }
  });

  it('renders the built-in templates from the message catalogue in the recipient\'s language (German: Sie-Form, dates in German)', () => {
    const templates = new Templates(undefined);
    const de = templates.render('login_code_valid', 'a@example.com', { LoginCode: '123456', ExpiresInMinutes: 1 }, 'de');
    expect(de.subject).toBe('Ihr Anmeldecode');
    expect(de.text).toContain('123456');
    expect(de.text).toContain('in 1 Minute ab');
    expect(de.html).toContain('<p style="font-size:1.5em;letter-spacing:0.2em"><strong>123456</strong></p>');
    const en = templates.render('login_code_valid', 'a@example.com', { LoginCode: '123456', ExpiresInMinutes: 15 }, 'en');
    expect(en.subject).toBe('Your sign-in code');
    expect(en.text).toContain('expires in 15 minutes');
    const reset = templates.render('mfa_reset_requested', 'a@example.com', { CancelURL: 'http://x/cancel?token=t', EffectiveAt: '2026-12-07T16:00:00.000Z' }, 'de');
    expect(reset.text).toContain('7. Dez. 2026');
    expect(reset.text).toContain('http://x/cancel?token=t');
    expect(reset.html).toContain('<a href="http://x/cancel?token=t">http://x/cancel?token=t</a>');
  });

  it('an override folder replaces only the files it has', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kairos-tpl-'));
    try {
      mkdirSync(join(dir, 'verification_code/valid'), { recursive: true });
      writeFileSync(join(dir, 'verification_code/valid/email.subject.gotmpl'), 'Code\nfor {{ .To }}');
      const r = new Templates(dir).render('verification_code_valid', 'a@example.com', { VerificationCode: '123456' });
      expect(r.subject).toBe('Code for a@example.com');
      expect(r.text).toContain('123456'); // built-in body
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('backs off exponentially up to the cap', () => {
    expect(CourierWorker.backoffSeconds(1)).toBe(BASE_BACKOFF_SECONDS);
    expect(CourierWorker.backoffSeconds(2)).toBe(2 * BASE_BACKOFF_SECONDS);
    expect(CourierWorker.backoffSeconds(3)).toBe(4 * BASE_BACKOFF_SECONDS);
    expect(CourierWorker.backoffSeconds(40)).toBe(MAX_BACKOFF_SECONDS);
  });
});
