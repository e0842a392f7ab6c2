// Renders bench/results.json as bench/RESULTS.md: ratios first, then absolute numbers with the machine.

const f0 = (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');
const f1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : '–');
const pct = (v) => (Number.isFinite(v) ? `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%` : '–');
const times = (v) => (Number.isFinite(v) ? `${v.toFixed(v < 10 ? 1 : 0)}×` : '–');
const range = (s) => `${f0(s.median)} [${f0(s.min)}–${f0(s.max)}]`;
const yes = (ok) => (ok === null ? '–' : ok ? 'met' : '**missed**');
const DIALECT_NAMES = { sqlite: 'SQLite', postgres: 'PostgreSQL' };

export function renderMarkdown(r, analysis) {
  const dialects = Object.keys(r.kairos);
  const k = (d, s) => r.kairos[d]?.scenarios?.[s];
  const fastify = r.floors.fastify?.rps.median;
  const argon2 = r.floors.argon2?.ops_per_s;
  const hmac = r.floors.hmac_sha1?.ops_per_s;
  const peer = r.peer && !r.peer.skipped ? r.peer : null;
  const lines = [];
  const row = (cells) => lines.push(`| ${cells.join(' | ')} |`);
  lines.push('# Kairos benchmark results', '');
  lines.push(
    `Machine: ${r.machine.cpus} × ${r.machine.cpu_model}, ${r.machine.memory_gib} GiB RAM, Node ${r.machine.node}, ${r.machine.platform}; ` +
      `commit ${r.machine.commit}; ${r.mode.name} mode, run ${r.machine.started_at} – ${r.finished_at}; load average at start ${r.machine.load_average_at_start.join(', ')}. ` +
      `The machine is shared (two cores, other work running), so absolute numbers are only meaningful next to the floors and the peer measured in the same run.`,
    '',
  );
  lines.push(`Each figure: median of ${r.mode.runs} runs of ${r.mode.runS} s at ${r.connections} connections after a ${r.mode.warmupS} s warm-up, [min–max] of the runs; "unloaded" is one run at 1 connection. See bench/README.md for what each scenario does.`, '');

  // ---- ratios
  lines.push('## Ratios (targets from issues 2, 3 and 8)', '');
  row(['ratio', ...dialects.map((d) => `Kairos on ${DIALECT_NAMES[d]}`), 'target']);
  row(['---', ...dialects.map(() => '---'), '---']);
  const push = (label, value, target, check) => {
    const cells = [label];
    for (const d of dialects) {
      const v = value(d);
      const ok = check && Number.isFinite(v) ? check(v, d) : null;
      cells.push(`${format(label, v)}${ok === null ? '' : ` (${yes(ok)})`}`);
    }
    cells.push(target);
    row(cells);
  };
  const formats = new Map();
  const format = (label, v) => (formats.get(label) ?? f1)(v);
  const def = (label, fmt, value, target, check) => {
    formats.set(label, fmt);
    push(label, value, target, check);
  };
  def('whoami / bare Fastify route (req/s)', pct, (d) => k(d, 'whoami')?.rps.median / fastify, '≥ 50%', (v) => v >= 0.5);
  def('password login / argon2id verify floor (req/s ÷ ops/s)', pct, (d) => k(d, 'login')?.rps.median / argon2, '≥ 90% (overhead ≤ 10%)', (v) => v >= 0.9);
  def('password login overhead, unloaded (p50 ÷ one verify − 1)', pct, (d) => k(d, 'login')?.unloaded.p50_ms / r.floors.argon2.single_ms - 1, '≤ 10%', (v) => v <= 0.1);
  def('TOTP step / bare Fastify route (req/s)', pct, (d) => k(d, 'totp')?.rps.median / fastify, '≥ 15%', (v) => v >= 0.15);
  def('TOTP step p99 at 50 connections (ms)', f1, (d) => k(d, 'totp')?.p99_ms.median, '< 50 ms (SQLite)', (v, d) => (d === 'sqlite' ? v < 50 : null));
  def('TOTP step / HOTP floor (req/s ÷ HMAC-SHA1 ops/s, one thread)', (v) => (Number.isFinite(v) ? `${(v * 100).toFixed(2)}%` : '–'), (d) => k(d, 'totp')?.rps.median / hmac, 'for information');
  if (peer) {
    def(`TOTP step, Kairos / Better Auth ${peer.version} (SQLite)`, times, (d) => k(d, 'totp')?.rps.median / peer.scenarios.totp.rps.median, '≥ 20× (SQLite)', (v, d) => (d === 'sqlite' ? v >= 20 : null));
    def(`password login, Kairos / Better Auth sign-in (different hashes, see notes)`, times, (d) => k(d, 'login')?.rps.median / peer.scenarios.login.rps.median, 'for information');
  }
  def('registration / argon2id floor (req/s ÷ verify ops/s)', pct, (d) => k(d, 'registration')?.rps.median / argon2, 'for information');
  if (dialects.some((d) => r.kairos[d].scale?.totp)) {
    const ids = r.kairos[dialects[0]].scale.identities;
    def(`TOTP p50 at ${f0(ids)} ÷ at ${f0(r.mode.baseIds)} identities`, (v) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–'), (d) => r.kairos[d].scale?.totp?.p50_ms.median / k(d, 'totp')?.p50_ms.median, '≈ 1 (no growth)', (v) => v <= 1.25);
    def(`TOTP unloaded p50 at ${f0(ids)} ÷ at ${f0(r.mode.baseIds)} identities`, (v) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–'), (d) => r.kairos[d].scale?.totp?.unloaded.p50_ms / k(d, 'totp')?.unloaded.p50_ms, '≈ 1 (no growth)', (v) => v <= 1.25);
    def(`login p50 at ${f0(ids)} ÷ at ${f0(r.mode.baseIds)} identities`, (v) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–'), (d) => r.kairos[d].scale?.login?.p50_ms.median / k(d, 'login')?.p50_ms.median, '≈ 1 (no growth)', (v) => v <= 1.25);
  }
  const peakOf = (d) => Math.max(...Object.values(r.kairos[d].scenarios).map((s) => s.peak_rss_mib), ...Object.values(r.kairos[d].scale ?? {}).filter((s) => s?.peak_rss_mib).map((s) => s.peak_rss_mib));
  def('peak RSS over all scenarios (MiB)', f1, peakOf, '< 150 MiB', (v) => v < 150);
  def('process start → /health/ready 200 (ms)', f0, (d) => r.kairos[d].ready_ms.base, '< 1000 ms', (v) => v < 1000);
  lines.push('');

  // ---- absolute
  lines.push(`## Absolute numbers (this machine only)`, '');
  lines.push('### Floors', '');
  row(['floor', 'throughput', 'latency', 'how']);
  row(['---', '---', '---', '---']);
  const fl = r.floors.fastify;
  row(['bare Fastify route', `${range(fl.rps)} req/s`, `p50 ${fl.p50_ms.median} ms, p99 ${fl.p99_ms.median} ms; unloaded p50 ${fl.unloaded.p50_ms} ms`, 'same Fastify, own process, ~1 KB JSON, autocannon as for Kairos']);
  if (r.floors.fastify_end) row(['bare Fastify route, again at the end', `${range(r.floors.fastify_end.rps)} req/s`, `p99 ${r.floors.fastify_end.p99_ms.median} ms`, 'drift of the shared machine during the run']);
  row(['argon2id verify', `${f1(argon2)} ops/s`, `${f1(r.floors.argon2.single_ms)} ms alone`, `@node-rs/argon2, m=${r.argon2.memory_kib} KiB t=${r.argon2.iterations} p=${r.argon2.parallelism}, ${r.connections} in flight, own process`]);
  row(['HOTP (HMAC-SHA1)', `${f0(hmac)} ops/s`, `${(r.floors.hmac_sha1.single_ms * 1000).toFixed(2)} µs`, 'node:crypto, one thread, own process']);
  lines.push('');

  for (const d of dialects) {
    const kd = r.kairos[d];
    lines.push(`### Kairos on ${DIALECT_NAMES[d]}`, '');
    row(['scenario', 'req/s at 50 conn.', 'p50 ms', 'p99 ms', 'unloaded p50 / p99 ms', 'peak RSS MiB', 'non-2xx / errors']);
    row(['---', '---', '---', '---', '---', '---', '---']);
    const scen = (label, s) => s && row([label, range(s.rps), f1(s.p50_ms.median), f1(s.p99_ms.median), `${f1(s.unloaded.p50_ms)} / ${f1(s.unloaded.p99_ms)}`, f1(s.peak_rss_mib), `${s.non2xx} / ${s.errors} of ${f0(s.requests)}`]);
    scen('whoami', kd.scenarios.whoami);
    scen('password login', kd.scenarios.login);
    scen(`TOTP step (${f0(r.mode.baseIds)} identities)`, kd.scenarios.totp);
    scen('registration', kd.scenarios.registration);
    if (kd.scale?.totp) {
      scen(`TOTP step (${f0(kd.scale.identities)} identities)`, kd.scale.totp);
      scen(`password login (${f0(kd.scale.identities)} identities)`, kd.scale.login);
    }
    for (const n of r.not_yet_available) row([n.scenario, 'not yet available', '', '', '', '', n.reason]);
    lines.push('');
    lines.push(
      `Idle RSS ${f1(kd.idle_rss_mib)} MiB; start → ready ${f0(kd.ready_ms.base)} ms (${f0(r.mode.baseIds)} identities)` +
        (kd.ready_ms.scale ? `, ${f0(kd.ready_ms.scale)} ms (${f0(kd.scale.identities)} identities)` : '') +
        `. Seeding: ${f0(kd.seed_base?.per_second)} identities/s` +
        (kd.seed_scale ? `, ${f0(kd.seed_scale.per_second)} identities/s to ${f0(kd.scale.identities)}` : '') +
        (kd.database ? `. Database: ${f0(kd.database.bytes_per_identity)} bytes per identity (${kd.database.measured_as}), ${f1(kd.database.bytes_at_scale / 2 ** 20)} MiB at ${f0(kd.scale.identities)}.` : '.'),
      '',
    );
  }

  lines.push('### Better Auth (peer, SQLite)', '');
  if (!peer) lines.push(`Not measured: ${r.peer?.skipped ?? 'unknown'}.`, '');
  else {
    row(['scenario', 'req/s at 50 conn.', 'p50 ms', 'p99 ms', 'unloaded p50 / p99 ms', 'peak RSS MiB', 'non-2xx / errors']);
    row(['---', '---', '---', '---', '---', '---', '---']);
    for (const [label, s] of [['sign-in (email+password, 2FA user)', peer.scenarios.login], ['TOTP verify (verify-totp)', peer.scenarios.totp]]) {
      row([label, range(s.rps), f1(s.p50_ms.median), f1(s.p99_ms.median), `${f1(s.unloaded.p50_ms)} / ${f1(s.unloaded.p99_ms)}`, f1(s.peak_rss_mib), `${s.non2xx} / ${s.errors} of ${f0(s.requests)}`]);
    }
    lines.push('', `better-auth ${peer.version}; idle RSS ${f1(peer.idle_rss_mib)} MiB; start → listening ${f0(peer.ready_ms)} ms.`, '');
  }
  if (analysis) lines.push(analysis.trim(), '');
  return lines.join('\n');
}
