/**
 * The console's page shell, in the hosted UI's visual language: the same stylesheet (taken from the hosted UI's
 * own page shell, so brand colours, dark mode and contrast rules stay one source), plus a wider layout for tables.
 * Served as files (`/console/assets/*`) so the console's CSP allows no inline style or script at all.
 */
import { escapeHtml, page, type Brand } from '../ui/hosted/layout.js';
import type { ConsoleRole } from './roles.js';

export { escapeHtml };
export const CONSOLE_PREFIX = '/console';
export const ASSETS = `${CONSOLE_PREFIX}/assets`;

/** The hosted UI's stylesheet for `brand` (the one `<style>` of its page shell). */
export function hostedCss(brand: Brand): string {
  const html = page('', brand, '');
  return /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? '';
}

const CONSOLE_CSS = `
header.top .in,main.wide,footer.bottom{max-width:72rem}main.wide{margin:1rem auto}
header.top .in{flex-wrap:wrap}header.top .who{margin-left:auto;color:var(--muted);font-size:.9rem;display:flex;gap:.75rem;align-items:center;flex-wrap:wrap}
header.top .who form{margin:0}header.top .who button{margin:0}
nav.console{background:var(--card);border-bottom:1px solid var(--line)}nav.console ul{max-width:72rem;margin:0 auto;padding:.4rem 1rem;display:flex;flex-wrap:wrap;gap:.25rem .5rem;list-style:none}
nav.console a{display:inline-block;padding:.35rem .7rem;border-radius:999px;text-decoration:none;color:var(--ink)}nav.console a[aria-current]{background:var(--brand);color:var(--on-brand)}
table{width:100%;border-collapse:collapse;font-size:.95rem}td.time{white-space:nowrap}th,td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}th{color:var(--muted);font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}.scroll{overflow-x:auto}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(20rem,1fr));gap:1rem}.grid .card{margin:0}
.stat{font-size:1.8rem;font-weight:700;margin:0}.stat-label{color:var(--muted);margin:0}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.75rem;margin:0 0 1rem}.stats .card{margin:0;padding:.9rem 1rem}
form.inline{display:flex;flex-wrap:wrap;gap:.5rem;align-items:flex-end}form.inline label{margin:0 0 .25rem}form.inline>div{flex:1 1 12rem}form.inline button{width:auto;margin:0}
select,textarea{width:100%;padding:.6rem;border:1px solid var(--field-line);border-radius:8px;font-size:1rem;background:var(--field);color:var(--ink);font-family:inherit}
textarea{min-height:4.5rem}fieldset{border:1px solid var(--line);border-radius:8px;margin:.75rem 0;padding:.5rem .9rem}legend{font-weight:600;padding:0 .3rem}
details.action{border:1px solid var(--line);border-radius:10px;padding:.6rem .9rem;margin:.5rem 0}details.action summary{cursor:pointer;font-weight:600}
.pager{display:flex;gap:1rem;margin-top:.75rem}.muted{color:var(--muted)}code.id{font-size:.85rem;overflow-wrap:anywhere}
.chart{min-height:220px;margin:.5rem 0}.chart canvas{max-width:100%}
.say{font-size:1.05rem;border-left:4px solid var(--brand);padding:.5rem .9rem;background:var(--bg);border-radius:6px}
.badge.warn{background:var(--cerr-bg);color:var(--cerr-fg)}.badge.err{background:var(--err-bg);color:var(--err-fg)}
@media (max-width:600px){th,td{padding:.35rem .3rem;font-size:.88rem}.hide-sm{display:none}}
`;

export function consoleCss(brand: Brand): string {
  return hostedCss(brand) + CONSOLE_CSS;
}

export interface ConsoleShell {
  brand: Brand;
  operator: { id: string; name: string; roles: readonly ConsoleRole[] } | null;
  csrf: string;
  current?: string;
}

const NAV: [string, string][] = [
  ['search', 'Find a user'],
  ['dashboard', 'Dashboard'],
  ['approvals', 'Approvals'],
  ['configuration', 'Configuration'],
];

export function consolePage(title: string, shell: ConsoleShell, body: string, options: { scripts?: string[] } = {}): string {
  const { brand, operator } = shell;
  const who = operator
    ? `<div class="who"><span data-testid="console/operator">${escapeHtml(operator.name)} · ${escapeHtml(operator.roles.join(', '))}</span><form method="post" action="${CONSOLE_PREFIX}/sign-out">${csrfField(shell.csrf)}<button class="secondary small" type="submit">Sign out</button></form></div>`
    : '';
  const nav = operator
    ? `<nav class="console" aria-label="Console"><ul>${NAV.map(([path, label]) => `<li><a href="${CONSOLE_PREFIX}/${path}"${shell.current === path ? ' aria-current="page"' : ''}>${escapeHtml(label)}</a></li>`).join('')}</ul></nav>`
    : '';
  const scripts = (options.scripts ?? []).map((s) => `<script src="${escapeHtml(s)}" defer></script>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="color-scheme" content="light dark"><meta name="referrer" content="no-referrer"><title>${escapeHtml(title)} · ${escapeHtml(brand.name)} console</title><link rel="stylesheet" href="${ASSETS}/console.css">${scripts}</head><body><a class="skip" href="#main">Skip to content</a><header class="top"><div class="in"><span class="bar" aria-hidden="true"></span><a class="name" href="${CONSOLE_PREFIX}/">${escapeHtml(brand.name)} console</a>${who}</div></header>${nav}<main id="main" class="wide">${body}</main><footer class="bottom"><p>Every action is recorded in the audit trail with your name and reason.</p></footer></body></html>`;
}

export function csrfField(token: string): string {
  return `<input type="hidden" name="csrf_token" value="${escapeHtml(token)}">`;
}

export function reasonField(id: string): string {
  return `<label for="${id}">Reason (recorded in the audit trail)</label><textarea id="${id}" name="reason" required maxlength="1000"></textarea>`;
}

export const iso = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '—' : new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC');

export function messageBox(kind: 'error' | 'info' | 'success', text: string, testid?: string): string {
  return `<div class="msg ${kind}" role="${kind === 'error' ? 'alert' : 'status'}"${testid ? ` data-testid="${testid}"` : ''}>${escapeHtml(text)}</div>`;
}
