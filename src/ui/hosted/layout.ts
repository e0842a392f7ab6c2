/**
 * The hosted UI's page shell: brand header, styles, and the one small script. Pages work without JavaScript; the
 * script only adds copy and print buttons (elements marked `data-copy` / `data-print`).
 */

import { escapeHtml } from '../../support/html.js';
import { LANGUAGE_NAMES, translator, type Language, type Translator } from '../i18n/catalogue.js';

export interface Brand {
  name: string;
  primary_color: string;
  logo_url?: string;
}

export { escapeHtml };

/** WCAG 2.x relative luminance of `#rrggbb` (https://www.w3.org/TR/WCAG21/#dfn-relative-luminance). */
function luminance(hex: string): number {
  const channel = (i: number) => {
    const c = parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2);
}

/** WCAG contrast ratio between two `#rrggbb` colours. */
export function contrastRatio(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

/** WCAG AA for normal text (1.4.3). */
const MIN_TEXT_CONTRAST = 4.5;

function mix(hex: string, toward: string, share: number): string {
  const c = (h: string, i: number) => parseInt(h.slice(1 + 2 * i, 3 + 2 * i), 16);
  return `#${[0, 1, 2].map((i) => Math.round(c(hex, i) * (1 - share) + c(toward, i) * share).toString(16).padStart(2, '0')).join('')}`;
}

/** The brand colour, lightened (on dark) or darkened (on light) just enough to reach AA contrast on every `backgrounds`. */
export function readableOn(color: string, backgrounds: string[], toward: '#ffffff' | '#000000'): string {
  for (let share = 0; share <= 1; share += 0.05) {
    const candidate = mix(color, toward, share);
    if (backgrounds.every((bg) => contrastRatio(candidate, bg) >= MIN_TEXT_CONTRAST)) return candidate;
  }
  return toward;
}

/** The page colours of one scheme. */
export const SCHEMES = {
  light: { bg: '#f4f5f7', card: '#ffffff', ink: '#1f2430', muted: '#4b5260', line: '#d5d9e0', field: '#ffffff', fieldLine: '#8a909c' },
  dark: { bg: '#0f1218', card: '#1a1e27', ink: '#e7e9ee', muted: '#aab1bf', line: '#343a48', field: '#11151c', fieldLine: '#7c8494' },
} as const;

export interface Palette {
  /** Button background and the text on it (AA). */
  brand: string;
  onBrand: string;
  /** Links and focus rings on the page and on cards (AA on both). */
  link: string;
}

/**
 * Colours derived from the configured brand colour so that text stays readable in both colour schemes, whatever a
 * deployment picks: button text is white or near-black, whichever contrasts more (the button is darkened or
 * lightened when neither reaches AA); links use the brand colour, shifted just enough to reach AA on the page.
 */
export function brandPalette(primary: string, scheme: keyof typeof SCHEMES = 'light'): Palette {
  const hex = /^#[0-9a-f]{6}$/i.test(primary) ? primary.toLowerCase() : '#4f46e5';
  const s = SCHEMES[scheme];
  const best = (bg: string) => (contrastRatio(bg, '#ffffff') >= contrastRatio(bg, '#111827') ? '#ffffff' : '#111827');
  let brand = hex;
  if (contrastRatio(brand, best(brand)) < MIN_TEXT_CONTRAST) brand = readableOn(hex, ['#ffffff'], '#000000');
  const link = readableOn(hex, [s.bg, s.card], scheme === 'dark' ? '#ffffff' : '#000000');
  return { brand, onBrand: best(brand), link };
}

function vars(scheme: keyof typeof SCHEMES, p: Palette): string {
  const s = SCHEMES[scheme];
  const light = scheme === 'light';
  const m = light
    ? { err: '#fdecec;#7f1d1d;#c62828', info: '#eef2ff;#1e2a78;#4f46e5', ok: '#e8f7ee;#14532d;#1f8a4c', cerr: '#fff7e6;#5c3a00;#d97706', cinfo: '#eef6ff;#173a63;#2563eb', on: '#e8f7ee;#14532d', off: '#f1f2f4;#4b5260', danger: '#9b1c1c' }
    : { err: '#3b1518;#fecaca;#f87171', info: '#1c2340;#c7d2fe;#818cf8', ok: '#0f2e1d;#bbf7d0;#4ade80', cerr: '#33250a;#fde68a;#f59e0b', cinfo: '#10233d;#bfdbfe;#60a5fa', on: '#0f2e1d;#bbf7d0', off: '#2a2f3a;#cbd2dc', danger: '#fca5a5' };
  const three = (name: string, v: string) => v.split(';').map((x, i) => `--${name}-${['bg', 'fg', 'edge'][i]}:${x}`).join(';');
  return `--brand:${p.brand};--on-brand:${p.onBrand};--link:${p.link};--ink:${s.ink};--muted:${s.muted};--line:${s.line};--bg:${s.bg};--card:${s.card};--field:${s.field};--field-line:${s.fieldLine};--danger:${m.danger};${three('err', m.err)};${three('info', m.info)};${three('ok', m.ok)};${three('cerr', m.cerr)};${three('cinfo', m.cinfo)};${three('on', m.on)};${three('off', m.off)}`;
}

function css(primary: string): string {
  return `:root{color-scheme:light dark;${vars('light', brandPalette(primary, 'light'))}}
@media (prefers-color-scheme:dark){:root{${vars('dark', brandPalette(primary, 'dark'))}}}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--ink)}
.skip{position:absolute;left:-9999px}.skip:focus{left:1rem;top:.5rem;background:var(--card);padding:.4rem .6rem;z-index:2}
header.top{background:var(--card);border-bottom:1px solid var(--line)}header.top .in{max-width:40rem;margin:0 auto;padding:.75rem 1rem;display:flex;align-items:center;gap:.6rem}
header.top img{height:28px;width:auto}header.top .name{font-weight:700;font-size:1.1rem;color:var(--ink);text-decoration:none}
header.top .bar{width:.6rem;height:1.6rem;border-radius:3px;background:var(--brand)}
main{max-width:40rem;margin:1.5rem auto;padding:0 1rem}
footer.bottom{max-width:40rem;margin:2rem auto 1.5rem;padding:0 1rem;color:var(--muted);font-size:.9rem}
footer.bottom ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;margin:.25rem 0 0;padding:0}footer.bottom a[aria-current]{font-weight:700;color:var(--ink);text-decoration:none}
.card{background:var(--card);border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.1);padding:1.25rem 1.5rem;margin-bottom:1rem}
h1{font-size:1.5rem;margin:0 0 .5rem}h2{font-size:1.15rem;margin:0 0 .5rem}.lead{color:var(--muted);margin:0 0 1rem}
h2.section{font-size:1.25rem;margin:1.75rem 0 .75rem;padding-top:.25rem;scroll-margin-top:4rem}
.help{color:var(--muted);margin:.25rem 0 .75rem}.help ol{margin:.25rem 0;padding-left:1.25rem}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}label.check{display:flex;gap:.6rem;align-items:flex-start;font-weight:600;margin:1rem 0 .25rem}
label.check input{width:1.25rem;height:1.25rem;margin-top:.15rem;flex:none}
input[type=text],input[type=email],input[type=password],input[type=number],input[type=tel],input[type=url]{width:100%;padding:.7rem;border:1px solid var(--field-line);border-radius:8px;font-size:1rem;background:var(--field);color:var(--ink)}
input.code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:1.35rem;letter-spacing:.2em;max-width:14rem}
input:focus-visible,button:focus-visible,a:focus-visible,summary:focus-visible{outline:3px solid var(--link);outline-offset:2px}
button,.button{display:inline-block;text-align:center;text-decoration:none;margin-top:1rem;width:100%;padding:.8rem;border:0;border-radius:8px;background:var(--brand);color:var(--on-brand);font-size:1rem;font-weight:600;cursor:pointer}
button.secondary,.button.secondary{background:var(--card);color:var(--ink);border:1px solid var(--field-line)}button.danger{background:var(--card);color:var(--danger);border:1px solid var(--danger)}
button.small,.button.small{width:auto;margin:0;padding:.35rem .8rem;font-size:.9rem}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:.75rem}.actions>*{flex:1 1 10rem;margin:0}
a{color:var(--link)}.field-msg{margin:.35rem 0 0}
.msg{padding:.75rem 1rem;border-radius:8px;margin:.5rem 0;border-left:4px solid transparent}.msg a:not(.button){color:inherit;font-weight:600}
.msg.error{background:var(--err-bg);color:var(--err-fg);border-color:var(--err-edge)}
.msg.info{background:var(--info-bg);color:var(--info-fg);border-color:var(--info-edge)}.msg.success{background:var(--ok-bg);color:var(--ok-fg);border-color:var(--ok-edge)}
.msg .title{display:block;font-weight:700;margin-bottom:.15rem}.msg ol,.msg ul{margin:.4rem 0 0;padding-left:1.25rem}
.callout{padding:1rem;border-radius:10px}.callout.error{background:var(--cerr-bg);color:var(--cerr-fg);border-color:var(--cerr-edge)}.callout.info{background:var(--cinfo-bg);color:var(--cinfo-fg);border-color:var(--cinfo-edge)}
.callout form button{width:auto;margin-top:.6rem;padding:.55rem 1rem}
figure.qr{margin:.75rem 0;text-align:center}figure.qr img{display:block;margin:0 auto;width:min(260px,100%);height:auto;image-rendering:pixelated;background:#fff;padding:8px;border-radius:6px}
figure.qr figcaption{color:var(--muted);font-size:.9rem}
.secret-box{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem;margin:.25rem 0 .75rem}
.secret{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:1.05rem;letter-spacing:.04em;background:var(--bg);padding:.5rem .6rem;border-radius:6px;word-spacing:.3em;overflow-wrap:anywhere}
.codes{display:grid;grid-template-columns:repeat(auto-fill,minmax(10.5rem,1fr));gap:.5rem;margin:.5rem 0;padding:0;list-style:none;counter-reset:code}
.codes li{counter-increment:code;display:flex;gap:.5rem;align-items:baseline;background:var(--bg);padding:.45rem .6rem;border-radius:6px}
.codes li::before{content:counter(code) ".";color:var(--muted);font-size:.85rem;min-width:1.5rem}
.codes code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:1.05rem;letter-spacing:.03em}.codes li.used code{text-decoration:line-through;color:var(--muted)}
.codes li.used .tag{font-size:.8rem;color:var(--muted)}
.factors,.sessions,.addresses{list-style:none;margin:0;padding:0}.factors li,.sessions li,.addresses li{display:flex;justify-content:space-between;align-items:center;flex-wrap:wrap;gap:.5rem 1rem;padding:.6rem 0;border-bottom:1px solid var(--line)}
.factors li:last-child,.sessions li:last-child,.addresses li:last-child{border:0}.sessions form button{margin:0}
.badge{align-self:center;font-size:.85rem;font-weight:600;padding:.1rem .55rem;border-radius:999px;white-space:nowrap}.badge.on{background:var(--on-bg);color:var(--on-fg)}.badge.off{background:var(--off-bg);color:var(--off-fg)}
.when{display:block;font-size:.9rem;color:var(--muted)}
nav.sections{position:sticky;top:0;z-index:1;background:var(--bg);padding:.5rem 0;margin:0 0 .5rem;border-bottom:1px solid var(--line)}
nav.sections ul{display:flex;flex-wrap:wrap;gap:.35rem .5rem;list-style:none;margin:0;padding:0}nav.sections a{display:inline-block;padding:.3rem .65rem;border-radius:999px;border:1px solid var(--line);text-decoration:none;color:var(--ink);font-size:.95rem}
nav.links{display:flex;flex-wrap:wrap;gap:.5rem 1.25rem;margin:1rem 0}
.alt-links{margin:1rem 0 0;display:flex;flex-direction:column;gap:.35rem}
section.alt:not(:target):not(.open){display:none}main:has(section.alt:target) section.primary{display:none}
.alt-links a.to-primary{display:none}main:has(section.alt:target) .alt-links a.to-primary{display:inline}
[data-js-only]{display:none}.js [data-js-only]{display:inline-block}
dl.details{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;font-size:.9rem;color:var(--muted)}dl.details dd{margin:0;overflow-wrap:anywhere}
@media (max-width:480px){main{margin-top:1rem;padding:0 .6rem}.card{padding:1rem}h1{font-size:1.3rem}}
@media print{header.top,footer,nav,form button,.no-print,[data-js-only]{display:none!important}body{background:#fff;color:#000}.card{box-shadow:none}}`;
}

/** Progressive enhancement only: copy buttons for `[data-copy]`, print buttons for `[data-print]`. */
export const HOSTED_UI_SCRIPT = `(function(){document.documentElement.classList.add('js');
document.querySelectorAll('[data-copy-target]').forEach(function(b){b.addEventListener('click',function(){
var t=document.getElementById(b.getAttribute('data-copy-target'));if(!t)return;var v=t.getAttribute('data-copy')||t.textContent||'';
var done=function(){var o=b.textContent;b.textContent=b.getAttribute('data-copied')||'Copied';setTimeout(function(){b.textContent=o},1500)};
if(navigator.clipboard&&navigator.clipboard.writeText){navigator.clipboard.writeText(v).then(done,function(){})}});});
document.querySelectorAll('[data-print]').forEach(function(b){b.addEventListener('click',function(){window.print()})});})();`;

export const SCRIPT_PATH = '/ui/assets/kairos-ui.js';

export const FAVICON_PATH = '/ui/favicon.svg';

/** The favicon: the brand's initial on the brand colour (SVG, so one file serves every size). */
export function favicon(brand: Brand): string {
  const p = brandPalette(brand.primary_color);
  const initial = escapeHtml(Array.from(brand.name.trim())[0]?.toUpperCase() ?? 'K');
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="${p.brand}"/><text x="32" y="44" font-family="system-ui,sans-serif" font-size="36" font-weight="700" text-anchor="middle" fill="${p.onBrand}">${initial}</text></svg>`;
}

/** What every page needs to know about its reader and its own address. */
export interface Shell {
  t: Translator;
  /** Languages offered (`ui.languages`); a switcher is shown when there are two or more. */
  languages: readonly Language[];
  /** This page's path and query, for the language switcher to come back to. */
  path: string;
}

export function defaultShell(): Shell {
  return { t: translator('en'), languages: ['en'], path: '/ui/welcome' };
}

function languageSwitcher(shell: Shell): string {
  if (shell.languages.length < 2) return '';
  const items = shell.languages
    .map((language) => {
      const current = language === shell.t.language;
      const href = `/ui/language?${new URLSearchParams({ lang: language, return_to: shell.path }).toString()}`;
      return `<li><a href="${escapeHtml(href)}" lang="${language}" hreflang="${language}"${current ? ' aria-current="true"' : ''} data-testid="ui/language/${language}">${escapeHtml(LANGUAGE_NAMES[language])}</a></li>`;
    })
    .join('');
  return `<nav aria-label="${escapeHtml(shell.t.t('shell.language'))}"><span>${escapeHtml(shell.t.t('shell.language'))}:</span><ul>${items}</ul></nav>`;
}

export function page(title: string, brand: Brand, body: string, shell: Shell = defaultShell()): string {
  const logo = brand.logo_url ? `<img src="${escapeHtml(brand.logo_url)}" alt="">` : '<span class="bar" aria-hidden="true"></span>';
  const t = shell.t;
  return `<!doctype html><html lang="${t.language}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="color-scheme" content="light dark"><title>${escapeHtml(title)} · ${escapeHtml(brand.name)}</title><link rel="icon" href="${FAVICON_PATH}" type="image/svg+xml"><style>${css(brand.primary_color)}</style><script src="${SCRIPT_PATH}" defer></script></head><body><a class="skip" href="#main">${escapeHtml(t.t('shell.skip'))}</a><header class="top"><div class="in">${logo}<a class="name" href="/ui/welcome">${escapeHtml(brand.name)}</a></div></header><main id="main">${body}</main><footer class="bottom">${languageSwitcher(shell)}</footer></body></html>`;
}
