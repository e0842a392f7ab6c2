/**
 * The hosted UI's page shell: brand header, styles, and the one small script. Pages work without JavaScript; the
 * script only adds copy and print buttons (elements marked `data-copy` / `data-print`).
 */

export interface Brand {
  name: string;
  primary_color: string;
  logo_url?: string;
}

export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

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

/**
 * Colours derived from the configured brand colour so that text stays readable whatever a deployment picks: button
 * text is white or near-black, whichever contrasts more; links use the brand colour only when it is readable on white.
 */
export function brandPalette(primary: string): { brand: string; onBrand: string; link: string } {
  const hex = /^#[0-9a-f]{6}$/i.test(primary) ? primary : '#4f46e5';
  const onBrand = contrastRatio(hex, '#ffffff') >= contrastRatio(hex, '#111827') ? '#ffffff' : '#111827';
  const link = contrastRatio(hex, '#ffffff') >= MIN_TEXT_CONTRAST ? hex : '#1f2937';
  return { brand: hex, onBrand, link };
}

function css(primary: string): string {
  const p = brandPalette(primary);
  return `:root{--brand:${p.brand};--on-brand:${p.onBrand};--link:${p.link};--ink:#1f2430;--muted:#4b5260;--line:#d5d9e0;--bg:#f4f5f7}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--ink)}
header.top{background:#fff;border-bottom:1px solid var(--line)}header.top .in{max-width:34rem;margin:0 auto;padding:.75rem 1rem;display:flex;align-items:center;gap:.6rem}
header.top img{height:28px;width:auto}header.top .name{font-weight:700;font-size:1.1rem;color:var(--ink);text-decoration:none}
header.top .bar{width:.6rem;height:1.6rem;border-radius:3px;background:var(--brand)}
main{max-width:34rem;margin:1.5rem auto;padding:0 1rem}
.card{background:#fff;border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.1);padding:1.25rem 1.5rem;margin-bottom:1rem}
h1{font-size:1.5rem;margin:0 0 .5rem}h2{font-size:1.15rem;margin:0 0 .5rem}.lead{color:var(--muted);margin:0 0 1rem}
.help{color:var(--muted);margin:.25rem 0 .75rem}.help ol{margin:.25rem 0;padding-left:1.25rem}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}label.check{display:flex;gap:.6rem;align-items:flex-start;font-weight:600;margin:1rem 0 .25rem}
label.check input{width:1.25rem;height:1.25rem;margin-top:.15rem;flex:none}
input[type=text],input[type=email],input[type=password],input[type=number],input[type=tel],input[type=url]{width:100%;padding:.7rem;border:1px solid #8a909c;border-radius:8px;font-size:1rem;background:#fff;color:var(--ink)}
input.code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:1.35rem;letter-spacing:.2em;max-width:14rem}
input:focus-visible,button:focus-visible,a:focus-visible,summary:focus-visible{outline:3px solid var(--brand);outline-offset:2px}
button,.button{display:inline-block;text-align:center;text-decoration:none;margin-top:1rem;width:100%;padding:.8rem;border:0;border-radius:8px;background:var(--brand);color:var(--on-brand);font-size:1rem;font-weight:600;cursor:pointer}
button.secondary,.button.secondary{background:#fff;color:var(--ink);border:1px solid #8a909c}button.danger{background:#fff;color:#9b1c1c;border:1px solid #9b1c1c}
button.small{width:auto;margin:0;padding:.35rem .8rem;font-size:.9rem}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:.75rem}.actions>*{flex:1 1 10rem;margin:0}
a{color:var(--link)}.field-msg{margin:.35rem 0 0}
.msg{padding:.75rem 1rem;border-radius:8px;margin:.5rem 0;border-left:4px solid transparent}.msg.error{background:#fdecec;color:#7f1d1d;border-color:#c62828}
.msg.info{background:#eef2ff;color:#1e2a78;border-color:#4f46e5}.msg.success{background:#e8f7ee;color:#14532d;border-color:#1f8a4c}
.msg .title{display:block;font-weight:700;margin-bottom:.15rem}.msg ol,.msg ul{margin:.4rem 0 0;padding-left:1.25rem}
.callout{padding:1rem;border-radius:10px}.callout.error{background:#fff7e6;color:#5c3a00;border-color:#d97706}.callout.info{background:#eef6ff;color:#173a63;border-color:#2563eb}
figure.qr{margin:.75rem 0;text-align:center}figure.qr img{display:block;margin:0 auto;width:min(260px,100%);height:auto;image-rendering:pixelated;background:#fff}
figure.qr figcaption{color:var(--muted);font-size:.9rem}
.secret-box{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem;margin:.25rem 0 .75rem}
.secret{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:1.05rem;letter-spacing:.04em;background:var(--bg);padding:.5rem .6rem;border-radius:6px;word-spacing:.3em;overflow-wrap:anywhere}
.codes{display:grid;grid-template-columns:repeat(auto-fill,minmax(10.5rem,1fr));gap:.5rem;margin:.5rem 0;padding:0;list-style:none;counter-reset:code}
.codes li{counter-increment:code;display:flex;gap:.5rem;align-items:baseline;background:var(--bg);padding:.45rem .6rem;border-radius:6px}
.codes li::before{content:counter(code) ".";color:var(--muted);font-size:.85rem;min-width:1.5rem}
.codes code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:1.05rem;letter-spacing:.03em}.codes li.used code{text-decoration:line-through;color:var(--muted)}
.codes li.used .tag{font-size:.8rem;color:var(--muted)}
.factors{list-style:none;margin:0;padding:0}.factors li{display:flex;justify-content:space-between;gap:1rem;padding:.6rem 0;border-bottom:1px solid var(--line)}.factors li:last-child{border:0}
.badge{align-self:center;font-size:.85rem;font-weight:600;padding:.1rem .55rem;border-radius:999px;white-space:nowrap}.badge.on{background:#e8f7ee;color:#14532d}.badge.off{background:#f1f2f4;color:#4b5260}
.factors .when{display:block;font-size:.9rem;color:var(--muted)}
nav.links{display:flex;flex-wrap:wrap;gap:.5rem 1.25rem;margin:1rem 0}
.alt-links{margin:1rem 0 0;display:flex;flex-direction:column;gap:.35rem}
section.alt:not(:target):not(.open){display:none}main:has(section.alt:target) section.primary{display:none}
[data-js-only]{display:none}.js [data-js-only]{display:inline-block}
dl.details{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;font-size:.9rem;color:var(--muted)}dl.details dd{margin:0;overflow-wrap:anywhere}
@media (max-width:480px){main{margin-top:1rem;padding:0 .6rem}.card{padding:1rem}h1{font-size:1.3rem}}
@media print{header.top,nav,form button,.no-print,[data-js-only]{display:none!important}body{background:#fff}.card{box-shadow:none}}`;
}

/** Progressive enhancement only: copy buttons for `[data-copy]`, print buttons for `[data-print]`. */
export const HOSTED_UI_SCRIPT = `(function(){document.documentElement.classList.add('js');
document.querySelectorAll('[data-copy-target]').forEach(function(b){b.addEventListener('click',function(){
var t=document.getElementById(b.getAttribute('data-copy-target'));if(!t)return;var v=t.getAttribute('data-copy')||t.textContent||'';
var done=function(){var o=b.textContent;b.textContent='Copied';setTimeout(function(){b.textContent=o},1500)};
if(navigator.clipboard&&navigator.clipboard.writeText){navigator.clipboard.writeText(v).then(done,function(){})}});});
document.querySelectorAll('[data-print]').forEach(function(b){b.addEventListener('click',function(){window.print()})});})();`;

export const SCRIPT_PATH = '/ui/assets/kairos-ui.js';

export function page(title: string, brand: Brand, body: string): string {
  const logo = brand.logo_url ? `<img src="${escapeHtml(brand.logo_url)}" alt="">` : '<span class="bar" aria-hidden="true"></span>';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)} · ${escapeHtml(brand.name)}</title><style>${css(brand.primary_color)}</style><script src="${SCRIPT_PATH}" defer></script></head><body><header class="top"><div class="in">${logo}<a class="name" href="/ui/welcome">${escapeHtml(brand.name)}</a></div></header><main>${body}</main></body></html>`;
}
