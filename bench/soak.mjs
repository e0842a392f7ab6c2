#!/usr/bin/env node
// npm run soak [-- --duration=600] [--dialect=postgres|sqlite] [--probe=20] [--concurrency=16]
//
// A soak of two `kairos serve` instances sharing one database (issue 14): first the capacity of the mixed traffic
// is measured (PROBE seconds at full concurrency), then the same mix runs for DURATION seconds at 80 % of that
// rate, alternating between the instances. It checks, and writes to bench/soak-results.json and bench/SOAK.md:
// - zero 5xx answers and zero transport errors;
// - zero lost writes: every registration answered 200 is an identity; every login answered 200 is one
//   `login.succeeded` audit event; every session logged out (204) is dead on both instances;
// - no RSS growth after warm-up: the median RSS of each instance over the last tenth of the run is within
//   RSS_GROWTH_LIMIT of its median over the tenth right after warm-up.
// Exit status 1 when any check fails. Not part of `npm test` (it takes DURATION + about a minute).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { execSync } from 'node:child_process';
import pg from 'pg';
import { freePort, memoryOf, sleep, startProcess } from './lib/util.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH, '..');
const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const DURATION_S = Number(arg('duration', 600));
const PROBE_S = Number(arg('probe', 20));
const DIALECT = arg('dialect', 'postgres');
const CONCURRENCY = Number(arg('concurrency', 16));
/** Load during the soak, as a share of the measured capacity (issue 14: 80 %). */
const LOAD_SHARE = 0.8;
/** The first WARMUP_SHARE of the run is warm-up; RSS is compared after it. */
const WARMUP_SHARE = 0.2;
/** Allowed RSS growth between the first and the last tenth after warm-up: 10 % or 16 MiB, whichever is larger. */
const RSS_GROWTH_LIMIT = { ratio: 0.1, floorMiB: 16 };
const RSS_SAMPLE_MS = 2000;
const PG_URL = process.env.KAIROS_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PASSWORD = 'soak-Passphrase-long-enough-7';
/** Kairos's default argon2 (config schema): the real cost, so capacity is the real one. */
const ARGON2 = { memory_kib: 19456, iterations: 2, parallelism: 1 };
const WORK = mkdtempSync(join(tmpdir(), 'kairos-soak-'));
const log = (...a) => process.stderr.write(a.join(' ') + '\n');
const RUN = randomBytes(4).toString('hex');

// ---- database and instances --------------------------------------------------------------------------------------

async function createDatabase() {
  if (DIALECT === 'sqlite') return { dsn: `sqlite://${join(WORK, 'kairos.sqlite')}`, drop: async () => {} };
  const schema = `kairos_soak_${RUN}`;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`create schema ${schema}`);
  await client.end();
  const url = new URL(PG_URL);
  url.searchParams.set('search_path', schema);
  return {
    dsn: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`drop schema if exists ${schema} cascade`);
      await c.end();
    },
  };
}

async function startInstance(dsn, tag) {
  const publicPort = await freePort();
  const adminPort = await freePort();
  const config = {
    dsn,
    serve: {
      public: { host: '127.0.0.1', port: publicPort, base_url: `http://127.0.0.1:${publicPort}/`, rate_limit: { enabled: true, max_per_minute: 1_000_000_000, identity_max_per_minute: 1_000_000_000 } },
      admin: { host: '127.0.0.1', port: adminPort },
    },
    secrets: { default: ['soak-secret-default-0123456789abcdef'], cookie: ['soak-secret-cookie-0123456789abcdef'], cipher: ['soak-secret-cipher-0123456789abcdef0123'] },
    selfservice: { methods: { totp: { enabled: true } } },
    hashers: { argon2: ARGON2 },
    courier: { worker: { enabled: false } },
    log: { level: 'warn' },
  };
  const file = join(WORK, `kairos-${tag}.yml`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  const proc = startProcess({
    command: process.execPath,
    args: [join(ROOT, 'dist/cli/bin.js'), 'serve', '-c', file, '--migrate'],
    cwd: ROOT,
    env: { NODE_ENV: 'production' },
    logFile: join(WORK, `kairos-${tag}.log`),
    readyUrl: `http://127.0.0.1:${publicPort}/health/ready`,
    timeoutMs: 120_000,
  });
  await proc.ready;
  return { ...proc, url: `http://127.0.0.1:${publicPort}`, tag };
}

// ---- the traffic -------------------------------------------------------------------------------------------------

const stats = { statuses: {}, transportErrors: 0, ops: {}, registrations: [], logins: 0, loggedOut: [], fiveXX: [] };
const accounts = []; // emails of registered users
const tokens = []; // session tokens not logged out
let opCounter = 0;
const any = (list) => list[Math.floor(Math.random() * list.length)];
/** Removes and returns a random element (swap-remove). */
const takeAny = (list) => {
  if (!list.length) return undefined;
  const i = Math.floor(Math.random() * list.length);
  const value = list[i];
  list[i] = list[list.length - 1];
  list.pop();
  return value;
};

async function call(instance, method, path, { body, token } = {}) {
  let response;
  try {
    response = await fetch(instance.url + path, {
      method,
      headers: { accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { 'x-session-token': token } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    stats.transportErrors++;
    throw err;
  }
  const text = await response.text();
  stats.statuses[response.status] = (stats.statuses[response.status] ?? 0) + 1;
  if (response.status >= 500) stats.fiveXX.push(`${instance.tag} ${method} ${path.split('?')[0]} → ${response.status} ${text.slice(0, 200)}`);
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: response.status, json };
}

async function flow(instance, kind, body, token) {
  const created = await call(instance, 'GET', `/self-service/${kind}/api`, { token });
  if (created.status !== 200) return created;
  return call(instance, 'POST', `/self-service/${kind}?flow=${created.json.id}`, { body, token });
}

const someAddress = () => (Math.random() < 0.5 && accounts.length ? any(accounts) : `nobody-${RUN}-${opCounter++}@example.com`);

const OPERATIONS = [
  // [name, weight, fn(instance)]
  ['register', 10, async (i) => {
    const email = `soak-${RUN}-${++opCounter}@example.com`;
    const r = await flow(i, 'registration', { method: 'password', traits: { email }, password: PASSWORD });
    if (r.status === 200) {
      stats.registrations.push(email);
      accounts.push(email);
      tokens.push(r.json.session_token);
    }
  }],
  ['login', 15, async (i) => {
    if (!accounts.length) return;
    const r = await flow(i, 'login', { method: 'password', identifier: any(accounts), password: PASSWORD });
    if (r.status === 200) {
      stats.logins++;
      tokens.push(r.json.session_token);
    }
  }],
  ['wrong_password', 5, async (i) => {
    if (accounts.length) await flow(i, 'login', { method: 'password', identifier: any(accounts), password: 'wrong-password-123' });
  }],
  ['whoami', 40, async (i) => {
    if (tokens.length) await call(i, 'GET', '/sessions/whoami', { token: any(tokens) });
  }],
  ['logout', 8, async (i) => {
    // Keep a pool of live sessions for whoami.
    if (tokens.length < 20) return;
    const token = takeAny(tokens);
    const r = await call(i, 'DELETE', '/self-service/logout/api', { body: { session_token: token } });
    if (r.status === 204) stats.loggedOut.push(token);
  }],
  ['recovery', 8, async (i) => {
    await flow(i, 'recovery', { method: 'code', email: someAddress() });
  }],
  ['verification', 8, async (i) => {
    await flow(i, 'verification', { method: 'code', email: someAddress() });
  }],
  ['settings_profile', 6, async (i) => {
    if (!tokens.length) return;
    const token = any(tokens);
    const created = await call(i, 'GET', '/self-service/settings/api', { token });
    // The session may be too old for a privileged change (settings answers 403 then): a 4xx, never a 5xx.
    if (created.status === 200) await call(i, 'POST', `/self-service/settings?flow=${created.json.id}`, { token, body: { method: 'profile', traits: { email: created.json.identity?.traits?.email } } });
  }],
];
const TOTAL_WEIGHT = OPERATIONS.reduce((s, [, w]) => s + w, 0);

function pickOperation() {
  let x = Math.random() * TOTAL_WEIGHT;
  for (const op of OPERATIONS) if ((x -= op[1]) < 0) return op;
  return OPERATIONS[0];
}

/**
 * Runs the mix for `seconds`: closed loop at full `CONCURRENCY` when `rate` is null (capacity), else open loop at
 * `rate` operations per second (at most CONCURRENCY in flight; an operation that finds none free waits).
 */
async function drive(instances, seconds, rate, onTick) {
  const deadline = Date.now() + seconds * 1000;
  let done = 0;
  let inFlight = 0;
  let next = 0;
  const startedAt = Date.now();
  const runOne = async () => {
    const [name, , fn] = pickOperation();
    const instance = instances[next++ % instances.length];
    inFlight++;
    try {
      await fn(instance);
      stats.ops[name] = (stats.ops[name] ?? 0) + 1;
    } catch {
      /* counted as a transport error */
    } finally {
      inFlight--;
      done++;
    }
  };
  if (rate === null) {
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < deadline) await runOne();
    }));
  } else {
    const intervalMs = 1000 / rate;
    let due = Date.now();
    const pending = new Set();
    while (Date.now() < deadline) {
      while (inFlight >= CONCURRENCY) await sleep(1);
      const p = runOne();
      pending.add(p);
      p.finally(() => pending.delete(p));
      due += intervalMs;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      onTick?.();
    }
    await Promise.all(pending);
  }
  return done / ((Date.now() - startedAt) / 1000);
}

// ---- checks ------------------------------------------------------------------------------------------------------

async function lostWrites(dsn, instances) {
  const problems = [];
  if (DIALECT === 'postgres') {
    const url = new URL(dsn);
    const schema = url.searchParams.get('search_path');
    url.searchParams.delete('search_path');
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    await client.query(`set search_path to ${schema}`);
    const identities = (await client.query(`select count(*)::int as n from identities where traits like $1`, [`%soak-${RUN}-%`])).rows[0].n;
    const logins = (await client.query(`select count(*)::int as n from audit_events where type = 'login.succeeded'`)).rows[0].n;
    await client.end();
    if (identities !== stats.registrations.length) problems.push(`identities: ${identities} in the database, ${stats.registrations.length} registrations answered 200`);
    if (logins !== stats.logins) problems.push(`login.succeeded events: ${logins}, logins answered 200: ${stats.logins}`);
  } else {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(dsn.replace(/^sqlite:\/\//, ''), { readonly: true });
    const identities = db.prepare(`select count(*) as n from identities where traits like ?`).get(`%soak-${RUN}-%`).n;
    const logins = db.prepare(`select count(*) as n from audit_events where type = 'login.succeeded'`).get().n;
    db.close();
    if (identities !== stats.registrations.length) problems.push(`identities: ${identities} in the database, ${stats.registrations.length} registrations answered 200`);
    if (logins !== stats.logins) problems.push(`login.succeeded events: ${logins}, logins answered 200: ${stats.logins}`);
  }
  let alive = 0;
  for (const token of stats.loggedOut) {
    for (const instance of instances) {
      const r = await fetch(`${instance.url}/sessions/whoami`, { headers: { 'x-session-token': token } });
      if (r.status !== 401) alive++;
    }
  }
  if (alive) problems.push(`${alive} whoami answers for logged-out sessions were not 401`);
  return problems;
}

const median = (values) => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!sorted.length) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

// ---- main --------------------------------------------------------------------------------------------------------

const database = await createDatabase();
const instances = [];
let exitCode = 1;
try {
  log(`soak: ${DIALECT}, probe ${PROBE_S}s, run ${DURATION_S}s at ${LOAD_SHARE * 100}% of capacity, concurrency ${CONCURRENCY}; work dir ${WORK}`);
  // One instance migrates first, then the second starts (both with --migrate; the second finds nothing to do).
  instances.push(await startInstance(database.dsn, 'a'));
  instances.push(await startInstance(database.dsn, 'b'));
  // A few users before measuring, so every operation has someone to act on.
  for (let i = 0; i < 8; i++) await OPERATIONS[0][2](instances[i % 2]);

  const capacity = await drive(instances, PROBE_S, null);
  const rate = capacity * LOAD_SHARE;
  log(`capacity ≈ ${capacity.toFixed(1)} operations/s (mixed); soaking at ${rate.toFixed(1)}/s`);
  const probeStatuses = { ...stats.statuses };

  const rss = instances.map(() => []); // [{ t, mib }]
  const t0 = Date.now();
  const sampler = setInterval(() => instances.forEach((inst, i) => rss[i].push({ t: (Date.now() - t0) / 1000, mib: memoryOf(inst.pid).rssMiB })), RSS_SAMPLE_MS);
  const achieved = await drive(instances, DURATION_S, rate);
  clearInterval(sampler);

  const warm = DURATION_S * WARMUP_SHARE;
  const tenth = (DURATION_S - warm) / 10;
  const rssReport = instances.map((inst, i) => {
    const first = median(rss[i].filter((s) => s.t >= warm && s.t < warm + tenth).map((s) => s.mib));
    const last = median(rss[i].filter((s) => s.t >= DURATION_S - tenth).map((s) => s.mib));
    const limit = Math.max(RSS_GROWTH_LIMIT.floorMiB, first * RSS_GROWTH_LIMIT.ratio);
    return { instance: inst.tag, after_warmup_mib: +first.toFixed(1), at_end_mib: +last.toFixed(1), growth_mib: +(last - first).toFixed(1), limit_mib: +limit.toFixed(1), ok: last - first <= limit, samples: rss[i] };
  });
  const writeProblems = await lostWrites(database.dsn, instances);
  const fiveXX = Object.entries(stats.statuses).filter(([s]) => Number(s) >= 500).reduce((n, [, c]) => n + c, 0);

  const results = {
    run_at: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? 'unknown', memory_gib: +(totalmem() / 2 ** 30).toFixed(1), node: process.version, load_average_at_end: loadavg().map((v) => +v.toFixed(2)) },
    commit: (() => {
      try {
        return execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim();
      } catch {
        return 'unknown';
      }
    })(),
    dialect: DIALECT,
    instances: 2,
    duration_s: DURATION_S,
    probe_s: PROBE_S,
    concurrency: CONCURRENCY,
    argon2: ARGON2,
    capacity_ops_per_s: +capacity.toFixed(1),
    target_ops_per_s: +rate.toFixed(1),
    achieved_ops_per_s: +achieved.toFixed(1),
    operations: stats.ops,
    statuses: stats.statuses,
    probe_statuses: probeStatuses,
    five_xx: fiveXX,
    five_xx_samples: stats.fiveXX.slice(0, 20),
    transport_errors: stats.transportErrors,
    registrations: stats.registrations.length,
    logins: stats.logins,
    logged_out_sessions_checked: stats.loggedOut.length,
    lost_writes: writeProblems,
    rss: rssReport.map(({ samples, ...r }) => r),
    pass: fiveXX === 0 && stats.transportErrors === 0 && writeProblems.length === 0 && rssReport.every((r) => r.ok),
  };
  writeFileSync(join(BENCH, 'soak-results.json'), JSON.stringify({ ...results, rss_samples: Object.fromEntries(rssReport.map((r) => [r.instance, r.samples])) }, null, 2) + '\n');
  writeFileSync(join(BENCH, 'SOAK.md'), renderSoak(results));
  log(renderSoak(results));
  exitCode = results.pass ? 0 : 1;
} finally {
  for (const instance of instances) await instance.stop();
  await database.drop();
  rmSync(WORK, { recursive: true, force: true });
}
process.exit(exitCode);

function renderSoak(r) {
  const lines = [
    `# Soak (\`npm run soak\`)`,
    '',
    `Generated by \`bench/soak.mjs\` on ${r.run_at} (commit ${r.commit}); ${r.machine.cpus} × ${r.machine.cpu_model}, Node ${r.machine.node}, load average at the end ${r.machine.load_average_at_end.join(' ')}.`,
    '',
    `Two \`kairos serve\` instances on one ${r.dialect === 'postgres' ? 'PostgreSQL schema' : 'SQLite file'}, argon2 at Kairos's defaults. Mixed traffic (registration, password login right and wrong, whoami, API logout, recovery and verification requests for known and unknown addresses, settings profile saves), alternating between the instances.`,
    '',
    `| | |`,
    `|---|---|`,
    `| measured capacity (${r.probe_s} s, ${r.concurrency} in flight) | ${r.capacity_ops_per_s} operations/s |`,
    `| soak | ${r.duration_s} s at ${r.target_ops_per_s}/s (80 %), achieved ${r.achieved_ops_per_s}/s |`,
    `| operations | ${Object.entries(r.operations).map(([k, v]) => `${k} ${v}`).join(', ')} |`,
    `| statuses | ${Object.entries(r.statuses).map(([k, v]) => `${k}: ${v}`).join(', ')} |`,
    `| 5xx | **${r.five_xx}** |`,
    `| transport errors | **${r.transport_errors}** |`,
    `| lost writes | **${r.lost_writes.length === 0 ? 'none' : r.lost_writes.join('; ')}** (${r.registrations} registrations, ${r.logins} logins, ${r.logged_out_sessions_checked} logged-out sessions checked on both instances) |`,
    ...r.rss.map((x) => `| RSS instance ${x.instance} | ${x.after_warmup_mib} MiB after warm-up → ${x.at_end_mib} MiB at the end (growth ${x.growth_mib} MiB, limit ${x.limit_mib}) ${x.ok ? 'ok' : '**grew**'} |`),
    `| result | **${r.pass ? 'pass' : 'FAIL'}** |`,
    '',
  ];
  return lines.join('\n');
}
