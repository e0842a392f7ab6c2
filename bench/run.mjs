#!/usr/bin/env node
// npm run bench [-- --quick] [--dialects=sqlite,postgres] [--no-peer] [--profile]
// See bench/README.md for what is measured and how. Writes bench/results.json and bench/RESULTS.md.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir, cpus, totalmem, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes, createHmac } from 'node:crypto';
import { execSync } from 'node:child_process';
import pg from 'pg';
import cliProgress from 'cli-progress';
import { register } from 'tsx/esm/api';
import { cannon, ensureBuilt, freePort, memoryOf, parallel, peakTracker, shuffle, sleep, startProcess, summary } from './lib/util.mjs';
import { renderMarkdown } from './lib/report.mjs';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
if (process.argv.includes('--render')) {
  // Re-render RESULTS.md from results.json (after editing analysis.md), without measuring anything.
  const saved = JSON.parse(readFileSync(join(BENCH_DIR, 'results.json'), 'utf8'));
  const analysisPath = join(BENCH_DIR, 'analysis.md');
  writeFileSync(join(BENCH_DIR, 'RESULTS.md'), renderMarkdown(saved, existsSync(analysisPath) ? readFileSync(analysisPath, 'utf8') : ''));
  process.exit(0);
}
// The server under test is the compiled one (dist/, what `npm start` and production run); rebuilt here if older
// than src/. The fixtures (seeding through Kairos's own services, in this process) still load the sources via tsx.
ensureBuilt(resolve(dirname(fileURLToPath(import.meta.url)), '..'));
register();
const fixturesModule = await import('./kairos-fixtures.ts');
const { openFixtures, seedCode, seedEmail, seedRecoveryCode, SEED_PASSWORD } = fixturesModule;

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH, '..');
const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const PROFILE = argv.includes('--profile');
const NO_PEER = argv.includes('--no-peer');
const DIALECTS = (argv.find((a) => a.startsWith('--dialects='))?.split('=')[1] ?? 'sqlite,postgres').split(',');
const ONLY = argv.find((a) => a.startsWith('--only='))?.split('=')[1]?.split(',') ?? null;
// A quick run (harness check) never overwrites the full run's committed results.
const RESULTS_JSON = QUICK ? 'results.quick.json' : 'results.json';
const RESULTS_MD = QUICK ? 'RESULTS.quick.md' : 'RESULTS.md';
const PG_URL = process.env.KAIROS_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const MODE = QUICK
  ? { name: 'quick', warmupS: 1, runS: 3, runs: 2, unloadedS: 2, baseIds: 3000, scaleIds: 10000, peerIds: 1000 }
  : { name: 'full', warmupS: 2, runS: 4, runs: 3, unloadedS: 2, baseIds: 10000, scaleIds: 100000, peerIds: 2000 };
const CONNECTIONS = 50;
const PASSWORD_NEW = 'correct-Horse-battery-7';
const ARGON2 = { memory_kib: 19456, iterations: 2, parallelism: 1 }; // Kairos's default (config schema), OWASP minimum
/** How long the server sits with no requests before its idle RSS is read (see the idle measurement). */
const IDLE_SETTLE_MS = 30_000;
const WORK = mkdtempSync(join(tmpdir(), 'kairos-bench-'));
const log = (...a) => process.stderr.write(a.join(' ') + '\n');
const wanted = (id) => !ONLY || ONLY.includes(id);

const results = {
  mode: MODE,
  machine: {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
    memory_gib: +(totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    commit: (() => {
      try {
        return execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim();
      } catch {
        return 'unknown';
      }
    })(),
    started_at: new Date().toISOString(),
    load_average_at_start: loadavg().map((v) => +v.toFixed(2)),
  },
  connections: CONNECTIONS,
  argon2: ARGON2,
  floors: {},
  kairos: {},
  peer: null,
  not_yet_available: [],
};

// ---- measuring one scenario -------------------------------------------------------------------------------------

/**
 * Warm-up, MODE.runs runs at 50 connections, one run at 1 connection. Scenarios with a pool prepare it before each
 * run (not timed): `prepare(count)` returns up to `count` items, each used by exactly one request.
 */
async function measure(target, scenario) {
  const tracker = target.pid ? peakTracker(target.pid) : null;
  let rate = scenario.initialRate ?? 500;
  const one = async (connections, durationS) => {
    let request;
    let amount;
    if (scenario.prepare) {
      const want = Math.ceil(rate * durationS) + 2 * connections + 20;
      const items = await scenario.prepare(want);
      if (items.length < 2 * connections + 20) throw new Error(`${scenario.id}: pool of ${items.length} is too small`);
      amount = items.length - connections - 20;
      let k = 0;
      request = { ...scenario.base, setupRequest: (req) => ({ ...req, ...scenario.toRequest(items[Math.min(k++, items.length - 1)]) }) };
    } else {
      request = scenario.setupRequest ? { ...scenario.base, setupRequest: (req) => ({ ...req, ...scenario.setupRequest() }) } : scenario.base;
    }
    const before = target.statements ? await target.statements() : null;
    const result = await cannon({ url: target.url + (scenario.base.path ?? '/'), connections, durationS, amount, request, pid: target.pid, expectStatus: scenario.expectStatus ?? null });
    if (before) {
      const after = await target.statements();
      result.statements_per_request = (after.total - before.total) / result.total;
      result.statements_by_kind = Object.fromEntries(Object.entries(after.by_kind).map(([kind, n]) => [kind, +((n - (before.by_kind[kind] ?? 0)) / result.total).toFixed(2)]).filter(([, n]) => n > 0));
      // KAIROS_COUNT_STATEMENTS=time (development, SQLite): microseconds per request spent in each statement.
      if (after.by_text && Object.keys(after.by_text).length > 0) {
        const rows = Object.entries(after.by_text)
          .map(([text, t]) => [text, (t.count - (before.by_text?.[text]?.count ?? 0)) / result.total, (t.micros - (before.by_text?.[text]?.micros ?? 0)) / result.total, (t.cpuMicros - (before.by_text?.[text]?.cpuMicros ?? 0)) / result.total])
          .filter(([, n]) => n > 0.01)
          .sort((a, b) => b[2] - a[2]);
        for (const [text, n, micros, cpuMicros] of rows) log(`      ${micros.toFixed(1).padStart(7)} µs/req wall ${cpuMicros.toFixed(1).padStart(7)} µs/req CPU  ×${n.toFixed(2)}  ${text.replace(/\s+/g, ' ').slice(0, 140)}`);
      }
    }
    return result;
  };
  const warmup = await one(CONNECTIONS, MODE.warmupS);
  rate = Math.max(warmup.rps, 5);
  const runs = [];
  for (let i = 0; i < MODE.runs; i++) {
    const r = await one(CONNECTIONS, MODE.runS);
    runs.push(r);
    rate = Math.max(r.rps, 5);
  }
  rate = Math.max(5, Math.min(rate, 1000 / Math.max(0.05, warmup.p50 / CONNECTIONS)));
  const unloaded = await one(1, MODE.unloadedS);
  const peak = tracker ? tracker.stop() : NaN;
  const all = [warmup, ...runs, unloaded];
  const out = {
    title: scenario.title,
    rps: summary(runs.map((r) => r.rps)),
    p50_ms: summary(runs.map((r) => r.p50)),
    p99_ms: summary(runs.map((r) => r.p99)),
    // CPU the server process spent per request (all its threads): robust to other load on a shared machine.
    cpu_ms_per_request: summary(runs.map((r) => r.cpu_ms_per_request)),
    unloaded: { rps: unloaded.rps, mean_ms: unloaded.mean, p50_ms: unloaded.p50, p99_ms: unloaded.p99 },
    requests: all.reduce((s, r) => s + r.total, 0),
    non2xx: all.reduce((s, r) => s + r.non2xx, 0),
    errors: all.reduce((s, r) => s + r.errors, 0),
    run_durations_s: runs.map((r) => +r.durationS.toFixed(1)),
    peak_rss_mib: +peak.toFixed(1),
    // SQL statements the server sent per request (KAIROS_COUNT_STATEMENTS=1), over the measured runs.
    ...(runs[0]?.statements_per_request !== undefined
      ? { statements_per_request: summary(runs.map((r) => r.statements_per_request)), statements_by_kind: runs.at(-1).statements_by_kind }
      : {}),
  };
  const statements = out.statements_per_request ? `, SQL ${out.statements_per_request.median.toFixed(2)} statements/request (${Object.entries(out.statements_by_kind).map(([k, n]) => `${k} ${n}`).join(', ')})` : '';
  log(`  ${scenario.id}: ${out.rps.median.toFixed(0)} req/s [${out.rps.min.toFixed(0)}–${out.rps.max.toFixed(0)}], p50 ${out.p50_ms.median} ms, p99 ${out.p99_ms.median} ms, unloaded p50 ${unloaded.p50} ms, non-2xx ${out.non2xx}, errors ${out.errors}, peak RSS ${out.peak_rss_mib} MiB, CPU ${out.cpu_ms_per_request.median.toFixed(3)} ms/request${statements}`);
  return out;
}

// ---- floors -------------------------------------------------------------------------------------------------------

async function fastifyFloor() {
  const port = await freePort();
  const proc = startProcess({
    command: process.execPath,
    args: [join(BENCH, 'floors/fastify.mjs'), String(port)],
    cwd: ROOT,
    logFile: join(WORK, 'fastify-floor.log'),
    readyUrl: `http://127.0.0.1:${port}/floor`,
  });
  await proc.ready;
  try {
    return await measure({ url: `http://127.0.0.1:${port}`, pid: proc.pid }, { id: 'fastify', title: 'bare Fastify route', base: { method: 'GET', path: '/floor' } });
  } finally {
    await proc.stop();
  }
}

function cpuFloor(args) {
  const out = execSync(`${JSON.stringify(process.execPath)} ${JSON.stringify(join(BENCH, 'floors/cpu.mjs'))} ${args}`, { cwd: ROOT }).toString();
  return JSON.parse(out.trim().split('\n').pop());
}

// ---- Kairos -------------------------------------------------------------------------------------------------------

async function createDatabase(dialect) {
  if (dialect === 'sqlite') {
    const path = join(WORK, 'kairos.sqlite');
    return { dsn: `sqlite://${path}`, drop: async () => rmSync(path, { force: true }) };
  }
  const schema = `kairos_bench_${randomBytes(4).toString('hex')}`;
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

async function kairosConfig(dsn) {
  const publicPort = await freePort();
  const adminPort = await freePort();
  return {
    dsn,
    serve: {
      public: {
        host: '127.0.0.1',
        port: publicPort,
        base_url: `http://127.0.0.1:${publicPort}/`,
        // The load comes from one IP: the per-IP limit stays on (each request pays for it) with a ceiling raised.
        rate_limit: { enabled: true, max_per_minute: 1_000_000_000 },
      },
      admin: { host: '127.0.0.1', port: adminPort },
    },
    secrets: {
      default: ['bench-secret-default-0123456789abcdef'],
      cookie: ['bench-secret-cookie-0123456789abcdef'],
      cipher: ['bench-secret-cipher-0123456789abcdef0123'],
    },
    selfservice: { methods: { totp: { enabled: true } } },
    hashers: { argon2: ARGON2 },
    log: { level: 'info' },
  };
}

async function startKairos(config, tag) {
  const file = join(WORK, `kairos-${tag}.yml`);
  writeFileSync(file, JSON.stringify(config, null, 2)); // JSON is YAML
  // KAIROS_BENCH_NODE_ARGS (development): extra flags for the server's node, e.g. --trace-gc or V8 heap sizes.
  const extraArgs = (process.env.KAIROS_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const nodeArgs = [...extraArgs, ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${join(BENCH, 'profiles', tag)}`] : [])];
  const proc = startProcess({
    command: process.execPath,
    args: [...nodeArgs, join(ROOT, 'dist/cli/bin.js'), 'serve', '-c', file, '--migrate'],
    cwd: ROOT,
    // The statement counter (storage/db.ts) is off in production; here it reports statements per request.
    env: { NODE_ENV: 'production', KAIROS_COUNT_STATEMENTS: process.env.KAIROS_COUNT_STATEMENTS === 'time' ? 'time' : '1' },
    logFile: join(WORK, `kairos-${tag}.log`),
    readyUrl: `http://127.0.0.1:${config.serve.public.port}/health/ready`,
  });
  const readyMs = await proc.ready;
  const statements = async () => {
    const res = await fetch(`http://127.0.0.1:${config.serve.admin.port}/debug/statements`);
    if (res.status !== 200) throw new Error(`statement counter: ${res.status} (is KAIROS_COUNT_STATEMENTS=1 reaching the server?)`);
    return res.json();
  };
  return { ...proc, url: `http://127.0.0.1:${config.serve.public.port}`, readyMs, statements };
}

const json = (body) => JSON.stringify(body);
const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json' };

async function getJson(url, headers = {}) {
  const res = await fetch(url, { headers: { accept: 'application/json', ...headers } });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  return body;
}

function seedBar(label, total) {
  const bar = new cliProgress.SingleBar(
    { format: `  ${label} [{bar}] {value}/{total} identities | {speed}/s | ETA {eta_formatted}`, hideCursor: true, stream: process.stderr, noTTYOutput: true, notTTYSchedule: 10_000 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { speed: '0' });
  const t0 = Date.now();
  return {
    update: (done) => bar.update(done, { speed: Math.round(done / Math.max(0.001, (Date.now() - t0) / 1000)) }),
    stop: () => {
      bar.stop();
      return (Date.now() - t0) / 1000;
    },
  };
}

async function seed(fixtures, from, to, label) {
  const bar = seedBar(label, to - from);
  await fixtures.seed(from, to, (done) => bar.update(done), fixtures.deps.storage.dialect === 'postgres' ? 6 : 1);
  const seconds = bar.stop();
  return { identities: to - from, seconds: +seconds.toFixed(1), per_second: Math.round((to - from) / seconds) };
}

/** Kairos scenarios against a running server; `state` keeps per-user last TOTP steps across runs. */
function kairosScenarios(server, fixtures, state) {
  const loginScenario = {
    id: 'login',
    title: 'password login (API flow submit)',
    initialRate: 40,
    base: { method: 'POST', headers: JSON_HEADERS },
    async prepare(count) {
      const flows = await parallel(count, 16, async () => (await getJson(`${server.url}/self-service/login/api`)).id);
      return flows.map((flowId) => ({ flowId, index: Math.floor(Math.random() * state.identities) }));
    },
    toRequest: (item) => ({
      path: `/self-service/login?flow=${item.flowId}`,
      body: json({ method: 'password', identifier: seedEmail(item.index), password: SEED_PASSWORD }),
    }),
  };

  const totpScenario = {
    id: 'totp',
    title: 'TOTP second-factor step (aal2 login flow submit)',
    initialRate: 800,
    base: { method: 'POST' },
    async prepare(count) {
      // Users that have not verified in the current time step (RFC 6238 §5.2 replay protection is on): each user
      // appears at most once per step, so every code the bench sends is fresh and must be accepted.
      const pick = () => {
        const step = Math.floor(Date.now() / 30_000);
        const chosen = [];
        for (let tries = 0; tries < state.identities && chosen.length < count; tries++) {
          const index = state.order[state.cursor++ % state.order.length];
          if (state.lastStep[index] < step) chosen.push(index);
        }
        return chosen;
      };
      let chosen = pick();
      if (chosen.length < count && chosen.length < state.identities / 2) {
        const waitMs = 30_000 - (Date.now() % 30_000) + 300;
        log(`    totp: ${chosen.length} users left in this time step, waiting ${(waitMs / 1000).toFixed(1)} s for the next`);
        await sleep(waitMs);
        chosen = pick();
      }
      return aal2Flows(chosen);
    },
    toRequest(item) {
      const { code, step } = seedCode(item.index, Date.now());
      state.lastStep[item.index] = step;
      return {
        path: `/self-service/login?flow=${item.flowId}`,
        headers: { ...JSON_HEADERS, 'x-session-token': item.token },
        body: json({ method: 'totp', totp_code: code }),
      };
    },
  };

  let registered = 0;
  const registrationScenario = {
    id: 'registration',
    title: 'registration (API flow submit)',
    initialRate: 40,
    base: { method: 'POST', headers: JSON_HEADERS },
    async prepare(count) {
      const flows = await parallel(count, 16, async () => (await getJson(`${server.url}/self-service/registration/api`)).id);
      return flows.map((flowId) => ({ flowId, email: `reg-${state.tag}-${registered++}@bench.example` }));
    },
    toRequest: (item) => ({
      path: `/self-service/registration?flow=${item.flowId}`,
      body: json({ method: 'password', traits: { email: item.email }, password: PASSWORD_NEW }),
    }),
  };

  /** Sessions and pending aal2 login flows for these seeded identities (the TOTP and recovery-code pools). */
  async function aal2Flows(indexes) {
    const tokens = await fixtures.createAal1Sessions(indexes);
    const flows = await parallel(indexes.length, 16, async (i) => (await getJson(`${server.url}/self-service/login/api?aal=aal2`, { 'x-session-token': tokens[i] })).id);
    return indexes.map((index, i) => ({ index, token: tokens[i], flowId: flows[i] }));
  }

  const recoveryScenario = {
    id: 'recovery',
    title: 'recovery-code step (aal2 login flow submit, method lookup_secret)',
    initialRate: 800,
    base: { method: 'POST' },
    async prepare(count) {
      // Every request uses a code that was never used: code k of identity i, each once.
      const chosen = [];
      for (let tries = 0; tries < state.identities && chosen.length < count; tries++) {
        const index = state.order[state.recoveryCursor++ % state.order.length];
        if (state.nextRecoveryCode[index] < fixtures.recoveryCodeCount) chosen.push(index);
      }
      return (await aal2Flows(chosen)).map((item) => ({ ...item, k: state.nextRecoveryCode[item.index]++ }));
    },
    toRequest: (item) => ({
      path: `/self-service/login?flow=${item.flowId}`,
      headers: { ...JSON_HEADERS, 'x-session-token': item.token },
      body: json({ method: 'lookup_secret', lookup_secret: seedRecoveryCode(item.index, item.k) }),
    }),
  };

  /**
   * A wrong TOTP code (no step within ±max_skew matches, so diagnosis checks every candidate: the costliest cause,
   * `no_match`). Each identity gets at most 4 wrong codes in the whole bench, below the 5 free failures of the
   * per-identity delay schedule, so no request is refused by a delay instead of being checked.
   */
  const rejectedScenario = (diagnosis) => ({
    id: `rejected-diagnosis-${diagnosis ? 'on' : 'off'}`,
    title: `rejected TOTP code, diagnosis ${diagnosis ? 'on' : 'off'}`,
    initialRate: 500,
    expectStatus: 400,
    base: { method: 'POST' },
    async prepare(count) {
      const chosen = [];
      for (let tries = 0; tries < state.identities && chosen.length < count; tries++) {
        const index = state.order[state.rejectCursor++ % state.order.length];
        if (state.wrongCodes[index] < 4) {
          state.wrongCodes[index]++;
          chosen.push(index);
        }
      }
      return aal2Flows(chosen);
    },
    toRequest(item) {
      const { code } = seedCode(item.index, Date.now());
      return {
        path: `/self-service/login?flow=${item.flowId}`,
        headers: { ...JSON_HEADERS, 'x-session-token': item.token },
        body: json({ method: 'totp', totp_code: String((Number(code) + 500_000) % 1_000_000).padStart(6, '0') }),
      };
    },
  });

  return { loginScenario, totpScenario, registrationScenario, recoveryScenario, rejectedScenario };
}

async function whoamiToken(server, tag) {
  const flow = await getJson(`${server.url}/self-service/registration/api`);
  const res = await fetch(`${server.url}/self-service/registration?flow=${flow.id}`, {
    method: 'POST',
    headers: JSON_HEADERS,
    body: json({ method: 'password', traits: { email: `whoami-${tag}@bench.example` }, password: PASSWORD_NEW }),
  });
  const body = await res.json();
  if (res.status !== 200 || !body.session_token) throw new Error(`registration for whoami failed: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  return body.session_token;
}

async function benchKairos(dialect) {
  log(`\n== Kairos on ${dialect}`);
  const database = await createDatabase(dialect);
  const config = await kairosConfig(database.dsn);
  const out = { ready_ms: {}, scenarios: {}, scale: {} };
  const fixtures = await openFixtures(config);
  const state = { identities: MODE.baseIds, order: shuffle(Array.from({ length: MODE.baseIds }, (_, i) => i), 7), cursor: 0, lastStep: new Float64Array(MODE.scaleIds).fill(-1), nextRecoveryCode: new Uint8Array(MODE.scaleIds), recoveryCursor: 0, wrongCodes: new Uint8Array(MODE.scaleIds), rejectCursor: 0, tag: dialect };
  try {
    out.seed_base = await seed(fixtures, 0, MODE.baseIds, `seed ${dialect}`);
    let server = await startKairos(config, `${dialect}-base`);
    out.ready_ms.base = +server.readyMs.toFixed(0);
    await sleep(1000);
    out.started_rss_mib = +memoryOf(server.pid).rssMiB.toFixed(1);
    // Idle: a server nobody calls for a while. V8 keeps the young generation it grew to while starting (up to
    // 32 MiB) until its memory reducer runs, about 8 s after allocation stops, with follow-ups after that; the RSS
    // one second after start is reported too (started_rss_mib).
    await sleep(IDLE_SETTLE_MS);
    out.idle_rss_mib = +memoryOf(server.pid).rssMiB.toFixed(1);
    try {
      const s = kairosScenarios(server, fixtures, state);
      if (wanted('whoami')) {
        const token = await whoamiToken(server, dialect);
        out.scenarios.whoami = await measure(server, { id: 'whoami', title: 'GET /sessions/whoami (session token)', base: { method: 'GET', path: '/sessions/whoami', headers: { 'x-session-token': token } } });
      }
      if (wanted('login')) out.scenarios.login = await measure(server, s.loginScenario);
      if (wanted('totp')) out.scenarios.totp = await measure(server, s.totpScenario);
      if (wanted('recovery')) out.scenarios.recovery = await measure(server, s.recoveryScenario);
      if (wanted('registration')) out.scenarios.registration = await measure(server, s.registrationScenario);
      if (wanted('rejected')) out.scenarios.rejected_diagnosis_on = await measure(server, s.rejectedScenario(true));
      out.rss_after_scenarios_mib = +memoryOf(server.pid).rssMiB.toFixed(1);
    } finally {
      await server.stop();
    }
    if (wanted('rejected')) {
      // The same rejected code with diagnosis switched off (selfservice.methods.totp.config.diagnostics.enabled).
      const off = structuredClone(config);
      off.selfservice.methods.totp.config = { diagnostics: { enabled: false } };
      server = await startKairos(off, `${dialect}-no-diagnosis`);
      try {
        out.scenarios.rejected_diagnosis_off = await measure(server, kairosScenarios(server, fixtures, state).rejectedScenario(false));
      } finally {
        await server.stop();
      }
    }

    // Scale: the same TOTP step and login at MODE.scaleIds identities.
    if (wanted('scale')) {
      const bytesBefore = await fixtures.databaseBytes();
      out.seed_scale = await seed(fixtures, MODE.baseIds, MODE.scaleIds, `seed ${dialect} to ${MODE.scaleIds}`);
      const bytesAfter = await fixtures.databaseBytes();
      out.database = {
        bytes_at_scale: bytesAfter,
        bytes_per_identity: Math.round((bytesAfter - bytesBefore) / (MODE.scaleIds - MODE.baseIds)),
        measured_as: dialect === 'sqlite' ? 'SQLite file + WAL after a checkpoint (growth over the scale seeding / identities added)' : 'sum of pg_total_relation_size over the schema\'s tables (growth / identities added)',
      };
      state.identities = MODE.scaleIds;
      state.order = shuffle(Array.from({ length: MODE.scaleIds }, (_, i) => i), 11);
      state.cursor = 0;
      server = await startKairos(config, `${dialect}-scale`);
      out.ready_ms.scale = +server.readyMs.toFixed(0);
      try {
        const s = kairosScenarios(server, fixtures, state);
        out.scale.identities = MODE.scaleIds;
        out.scale.totp = await measure(server, s.totpScenario);
        out.scale.login = await measure(server, s.loginScenario);
        if (wanted('console')) {
          // The operator console (admin port) at scale: search by an email prefix (the identifier index) and the
          // identity page of a random seeded identity, with a helpdesk console session.
          const cookie = `kairos_console_session=${await fixtures.createConsoleSession(0)}`;
          await fixtures.loadIds(0, MODE.scaleIds);
          const admin = { ...server, url: `http://127.0.0.1:${config.serve.admin.port}` };
          const pick = () => Math.floor(Math.random() * MODE.scaleIds);
          out.scale.console_search = await measure(admin, {
            id: 'console_search',
            title: `GET /console/search?q=<email> at ${MODE.scaleIds} identities`,
            base: { method: 'GET', path: '/console/search', headers: { cookie } },
            setupRequest: () => ({ path: `/console/search?q=${encodeURIComponent(seedEmail(pick()))}` }),
          });
          out.scale.console_identity = await measure(admin, {
            id: 'console_identity',
            title: `GET /console/identities/<id> at ${MODE.scaleIds} identities`,
            base: { method: 'GET', path: '/console/search', headers: { cookie } },
            setupRequest: () => ({ path: `/console/identities/${fixtures.ids.get(pick())}` }),
          });
        }
      } finally {
        await server.stop();
      }
    }
  } finally {
    await fixtures.close();
    await database.drop();
  }
  return out;
}

// ---- Better Auth --------------------------------------------------------------------------------------------------

const PEER_DIR = join(BENCH, 'peers/better-auth');
const peerSecret = (index) => `peer-totp-${String(index).padStart(8, '0')}-abcdefghijklm`;
function hotpNow(secret) {
  const counter = Math.floor(Date.now() / 30_000);
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(BigInt(counter));
  const h = createHmac('sha1', Buffer.from(secret, 'utf8')).update(buf).digest();
  const o = h[h.length - 1] & 15;
  return ((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).toString().padStart(6, '0');
}

async function benchPeer() {
  if (!existsSync(join(PEER_DIR, 'node_modules/better-auth/package.json'))) {
    return { skipped: 'bench/peers/better-auth is not installed: run `npm run bench:setup` to include Better Auth' };
  }
  const version = JSON.parse(readFileSync(join(PEER_DIR, 'node_modules/better-auth/package.json'), 'utf8')).version;
  log(`\n== Better Auth ${version} on SQLite`);
  const port = await freePort();
  const file = join(WORK, 'peer.sqlite');
  const proc = startProcess({
    command: process.execPath,
    args: [join(PEER_DIR, 'server.mjs'), String(port), file],
    cwd: PEER_DIR,
    env: { NODE_ENV: 'production' },
    logFile: join(WORK, 'peer.log'),
    readyUrl: `http://127.0.0.1:${port}/health`,
  });
  const readyMs = await proc.ready;
  const url = `http://127.0.0.1:${port}`;
  const origin = { origin: url };
  const out = { version, ready_ms: +readyMs.toFixed(0), scenarios: {} };
  try {
    await sleep(500);
    out.started_rss_mib = +memoryOf(proc.pid).rssMiB.toFixed(1);
    await sleep(IDLE_SETTLE_MS); // measured as Kairos's idle RSS is
    out.idle_rss_mib = +memoryOf(proc.pid).rssMiB.toFixed(1);
    const bar = seedBar('seed better-auth', MODE.peerIds);
    for (let from = 0; from < MODE.peerIds; from += 1000) {
      const to = Math.min(MODE.peerIds, from + 1000);
      const res = await fetch(`${url}/bench/seed`, { method: 'POST', body: json({ from, to }) });
      if (res.status !== 200) throw new Error(`peer seed: ${res.status} ${await res.text()}`);
      bar.update(to);
    }
    bar.stop();
    const target = { url, pid: proc.pid };
    out.scenarios.login = await measure(target, {
      id: 'peer-login',
      title: 'POST /api/auth/sign-in/email (user with 2FA: answers twoFactorRedirect)',
      initialRate: 10,
      base: { method: 'POST', path: '/api/auth/sign-in/email', headers: { ...JSON_HEADERS, ...origin } },
      // A pool like Kairos's login, so a run ends when its requests are answered (no abandoned scrypt backlog).
      prepare: async (count) => Array.from({ length: count }, () => Math.floor(Math.random() * MODE.peerIds)),
      toRequest: (index) => ({ body: json({ email: seedEmail(index), password: SEED_PASSWORD }) }),
    });
    out.scenarios.totp = await measure(target, {
      id: 'peer-totp',
      title: 'POST /api/auth/two-factor/verify-totp (pending sign-in challenge)',
      initialRate: 200,
      base: { method: 'POST', path: '/api/auth/two-factor/verify-totp' },
      async prepare(count) {
        const indexes = Array.from({ length: count }, () => Math.floor(Math.random() * MODE.peerIds));
        const cookies = [];
        for (let k = 0; k < count; k += 1000) {
          const res = await fetch(`${url}/bench/challenges`, { method: 'POST', body: json({ indexes: indexes.slice(k, k + 1000) }) });
          cookies.push(...(await res.json()).cookies);
        }
        return indexes.map((index, i) => ({ index, cookie: cookies[i] }));
      },
      toRequest: (item) => ({ headers: { ...JSON_HEADERS, ...origin, cookie: item.cookie }, body: json({ code: hotpNow(peerSecret(item.index)) }) }),
    });
  } finally {
    await proc.stop();
    rmSync(file, { force: true });
  }
  return out;
}

// ---- main ---------------------------------------------------------------------------------------------------------

log(`Kairos bench, ${MODE.name} mode: ${results.machine.cpus} × ${results.machine.cpu_model}, ${results.machine.memory_gib} GiB, Node ${process.version}; work dir ${WORK}`);
if (PROFILE) mkdirSync(join(BENCH, 'profiles'), { recursive: true });

log('\n== floors');
results.floors.fastify = await fastifyFloor();
results.floors.argon2 = cpuFloor(`argon2 ${ARGON2.memory_kib} ${ARGON2.iterations} ${ARGON2.parallelism} ${MODE.runS} ${CONNECTIONS}`);
log(`  argon2id verify (m=${ARGON2.memory_kib} KiB, t=${ARGON2.iterations}, p=${ARGON2.parallelism}): ${results.floors.argon2.ops_per_s.toFixed(1)} ops/s at ${CONNECTIONS} in flight, ${results.floors.argon2.single_ms.toFixed(1)} ms alone`);
results.floors.argon2_hash = cpuFloor(`argon2-hash ${ARGON2.memory_kib} ${ARGON2.iterations} ${ARGON2.parallelism} ${MODE.runS} ${CONNECTIONS}`);
log(`  argon2id hash (same parameters, a new salt each): ${results.floors.argon2_hash.ops_per_s.toFixed(1)} ops/s at ${CONNECTIONS} in flight, ${results.floors.argon2_hash.single_ms.toFixed(1)} ms alone`);
results.floors.hmac_sha1 = cpuFloor(`hmac ${Math.min(3, MODE.runS)}`);
log(`  HOTP (HMAC-SHA1): ${Math.round(results.floors.hmac_sha1.ops_per_s)} ops/s on one thread`);

for (const dialect of DIALECTS) {
  results.kairos[dialect] = await benchKairos(dialect);
  writeFileSync(join(BENCH, RESULTS_JSON), JSON.stringify(results, null, 2) + '\n'); // partial, in case a later part fails
}
results.peer = NO_PEER ? { skipped: 'skipped with --no-peer' } : await benchPeer();
if (!QUICK) {
  log('\n== floors again (machine drift)');
  results.floors.fastify_end = await fastifyFloor();
}
results.not_yet_available = [];
results.finished_at = new Date().toISOString();

writeFileSync(join(BENCH, RESULTS_JSON), JSON.stringify(results, null, 2) + '\n');
const analysisFile = join(BENCH, 'analysis.md');
writeFileSync(join(BENCH, RESULTS_MD), renderMarkdown(results, QUICK ? '' : existsSync(analysisFile) ? readFileSync(analysisFile, 'utf8') : ''));
log(`\nwrote bench/${RESULTS_JSON} and bench/${RESULTS_MD}`);
// KAIROS_BENCH_KEEP=1 (development): keep the work directory (server logs, configs) for reading after the run.
if (process.env.KAIROS_BENCH_KEEP === '1') log(`kept ${WORK}`);
else rmSync(WORK, { recursive: true, force: true });
process.exit(0);
