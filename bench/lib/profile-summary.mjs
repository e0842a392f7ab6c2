// node bench/lib/profile-summary.mjs <file.cpuprofile> [top]: self time by function and by file (for RESULTS.md notes).
import { readFileSync } from 'node:fs';
const [file, topArg] = process.argv.slice(2);
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map();
const dt = profile.timeDeltas;
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (dt[i] ?? 0)));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const agg = (keyOf) => {
  const m = new Map();
  for (const [id, us] of selfUs) {
    const key = keyOf(byId.get(id).callFrame);
    m.set(key, (m.get(key) ?? 0) + us);
  }
  return [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
};
const short = (url) => url.replace(/^file:\/\/.*?\/(node_modules|src)\//, '$1/').replace(/^node:/, 'node:');
console.log(`total ${(total / 1e6).toFixed(1)} s sampled`);
console.log('\n-- by function (self)');
for (const [k, us] of agg((c) => `${c.functionName || '(anonymous)'} ${short(c.url)}:${c.lineNumber + 1}`)) console.log(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
console.log('\n-- by file (self)');
for (const [k, us] of agg((c) => short(c.url) || '(native)')) console.log(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${k}`);

// Inclusive time (a function and everything it called), for finding which step of a request costs what.
if (process.argv.includes('--inclusive')) {
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const incl = new Map();
  for (const [id, us] of selfUs) {
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const c = byId.get(cur).callFrame;
      const key = `${c.functionName || '(anonymous)'} ${short(c.url)}:${c.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      incl.set(key, (incl.get(key) ?? 0) + us);
    }
  }
  const busy = total - (agg((c) => c.functionName).find(([k]) => k === '(idle)')?.[1] ?? 0);
  console.log(`\n-- inclusive, % of busy time (${(busy / 1e6).toFixed(1)} s)`);
  for (const [k, us] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 80))) console.log(`${((us / busy) * 100).toFixed(1).padStart(5)}%  ${k}`);
}
