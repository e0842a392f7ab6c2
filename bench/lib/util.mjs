// Small helpers for bench/run.mjs: child processes, memory of a process, autocannon runs, statistics.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync, openSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createServer } from 'node:net';
import autocannon from 'autocannon';

/**
 * Builds dist/ (`npm run build`) when it is missing or older than src/, package.json or a tsconfig: the bench
 * measures the compiled server. The same rule as test/support/build.ts.
 */
export function ensureBuilt(root) {
  const newest = (path) => {
    const stat = statSync(path);
    return stat.isDirectory() ? Math.max(stat.mtimeMs, ...readdirSync(path).map((e) => newest(join(path, e)))) : stat.mtimeMs;
  };
  const stamp = join(root, 'dist/build-stamp');
  const stale = !existsSync(join(root, 'dist/cli/bin.js')) || !existsSync(stamp) ||
    Math.max(newest(join(root, 'src')), ...['package.json', 'tsconfig.json', 'scripts/build.mjs'].map((f) => statSync(join(root, f)).mtimeMs)) > statSync(stamp).mtimeMs;
  if (stale) {
    process.stderr.write('bench: dist/ is missing or older than src/: npm run build\n');
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A child process with its output in a log file; `ready` resolves when `url` answers 200 (time since spawn). */
export function startProcess({ command, args, cwd, env, logFile, readyUrl, timeoutMs = 60_000 }) {
  const t0 = process.hrtime.bigint();
  const out = openSync(logFile, 'a');
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', out, out] });
  let exited = null;
  child.on('exit', (code, signal) => (exited = { code, signal }));
  const ready = (async () => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`${args.join(' ')} exited (${JSON.stringify(exited)}) before it was ready; see ${logFile}`);
      try {
        const res = await fetch(readyUrl);
        if (res.status === 200) return Number(process.hrtime.bigint() - t0) / 1e6;
      } catch {
        /* not listening yet */
      }
      await sleep(5);
    }
    throw new Error(`${readyUrl} not ready after ${timeoutMs} ms; see ${logFile}`);
  })();
  return {
    child,
    pid: child.pid,
    ready,
    async stop() {
      if (exited) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await done;
      clearTimeout(timer);
    },
  };
}

/** CPU time (user + system, all threads) a process has used so far, in ms (/proc/<pid>/stat, USER_HZ = 100). */
export function cpuMsOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/** RSS of a process in MiB: current (VmRSS) and peak since the last reset (VmHWM). */
export function memoryOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
  } catch {
    return { rssMiB: NaN, hwmMiB: NaN };
  }
}

/**
 * Peak RSS over a scenario. Linux resets VmHWM to the current RSS when "5" is written to /proc/<pid>/clear_refs;
 * where that is refused, a 50 ms poll of VmRSS gives the peak instead.
 */
export function peakTracker(pid) {
  let canReset = true;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    canReset = false;
  }
  let polled = memoryOf(pid).rssMiB;
  const timer = setInterval(() => (polled = Math.max(polled, memoryOf(pid).rssMiB)), 50);
  return {
    stop() {
      clearInterval(timer);
      const m = memoryOf(pid);
      return Math.max(polled, m.rssMiB, canReset ? m.hwmMiB : 0);
    },
  };
}

/** One autocannon run. `request` is autocannon's request options (setupRequest for pools). */
export async function cannon({ url, connections, durationS, amount, request = {}, timeoutS = 30, pid, expectStatus = null }) {
  const cpu0 = pid ? cpuMsOf(pid) : NaN;
  const t0 = process.hrtime.bigint();
  const result = await autocannon({
    url,
    connections,
    pipelining: 1,
    timeout: timeoutS,
    ...(amount ? { amount, duration: durationS } : { duration: durationS }),
    requests: [request],
  });
  const elapsedS = Number(process.hrtime.bigint() - t0) / 1e9;
  // `ok`: responses with the expected status (any 2xx by default; 400 for scenarios that submit a wrong code).
  const ok = expectStatus ? result.statusCodeStats?.[expectStatus]?.count ?? 0 : result['2xx'];
  const cpuMs = pid ? cpuMsOf(pid) - cpu0 : NaN;
  return {
    cpu_ms_per_request: cpuMs / result.requests.total,
    rps: ok / Math.min(elapsedS, result.duration || elapsedS),
    total: result.requests.total,
    ok,
    non2xx: result.requests.total - ok,
    errors: result.errors + result.timeouts,
    mean: result.latency.mean,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    durationS: result.duration,
  };
}

/** Median, min and max of the runs' values. */
export function summary(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (!sorted.length) return { median: NaN, min: NaN, max: NaN };
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/** Runs `fn(i)` for i in [0, n) with at most `concurrency` in flight; returns results in order. */
export async function parallel(n, concurrency, fn) {
  const out = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

export function shuffle(array, seed = 1) {
  let s = seed >>> 0;
  for (let i = array.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [array[i], array[j]] = [array[j], array[i]];
  }
  return array;
}
