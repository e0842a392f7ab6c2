/**
 * The deployment kit in deploy/ checked against the code: the compose file names only images, commands, files,
 * volumes and variables that exist (in the repository, the Containerfile or the config schema); the sample
 * production config loads with its secrets from the environment; every metric the Grafana dashboard and the alert
 * rules query is one Kairos exports; the operations metrics and the public/admin readiness split behave.
 */
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseDocument } from 'yaml';
import { environmentOverrides, loadConfig } from '../../src/config/load.js';
import { DEFAULT_METRICS_PREFIX, Metrics } from '../../src/audit/metrics.js';
import { createLogger } from '../../src/registry.js';
import { DIALECTS, startKairos, type TestKairos } from '../support/harness.js';
import { registerWithPassword } from '../support/users.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DEPLOY = join(ROOT, 'deploy');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const KAIROS_IMAGE = 'localhost/kairos:latest';

/** Compose Specification keys (compose-spec.io, "Compose file" reference) used to catch misspelt keys. */
const COMPOSE_TOP_LEVEL = new Set(['name', 'services', 'networks', 'volumes', 'configs', 'secrets', 'include']);
const COMPOSE_SERVICE_KEYS = new Set([
  'image', 'build', 'command', 'entrypoint', 'environment', 'env_file', 'volumes', 'tmpfs', 'read_only', 'ports', 'expose',
  'depends_on', 'restart', 'healthcheck', 'networks', 'user', 'working_dir', 'labels', 'deploy', 'stop_signal', 'stop_grace_period',
]);

/** The compose file with its YAML merge keys (<<: *kairos) resolved, as podman-compose and docker compose read it. */
function compose(): any {
  return parseDocument(read('deploy/compose.yml'), { merge: true }).toJS();
}

function containerfile(): { instructions: [string, string][] } {
  const text = read('Containerfile').replace(/\\\n/g, ' ');
  const instructions = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => [l.split(/\s+/)[0]!.toUpperCase(), l.slice(l.split(/\s+/)[0]!.length).trim()] as [string, string]);
  return { instructions };
}

/** Variables `${NAME…}` the compose file interpolates from deploy/.env. */
function interpolated(text: string): string[] {
  return [...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]!);
}

describe('deploy/compose.yml names only what exists', () => {
  const file = compose();
  const services = file.services as Record<string, any>;
  const kairosServices = Object.entries(services).filter(([, s]) => s.image === KAIROS_IMAGE);

  it('uses only Compose Specification keys, and has the stack the README describes', () => {
    for (const key of Object.keys(file)) if (!key.startsWith('x-')) expect(COMPOSE_TOP_LEVEL, `top-level key ${key}`).toContain(key);
    for (const [name, service] of Object.entries(services)) {
      for (const key of Object.keys(service)) expect(COMPOSE_SERVICE_KEYS, `services.${name}.${key}`).toContain(key);
      expect(service.image ?? service.build, `services.${name} has an image or a build`).toBeTruthy();
    }
    expect(Object.keys(services).sort()).toEqual(['kairos-1', 'kairos-2', 'mailpit', 'migrate', 'postgres', 'proxy']);
    expect(kairosServices.map(([n]) => n).sort()).toEqual(['kairos-1', 'kairos-2', 'migrate']);
  });

  it('builds the Kairos image from the repository Containerfile', () => {
    for (const [name, service] of kairosServices) {
      expect(existsSync(join(DEPLOY, service.build.context, service.build.dockerfile)), `services.${name}.build`).toBe(true);
      expect(resolve(DEPLOY, service.build.context)).toBe(ROOT);
    }
  });

  it('runs kairos commands the CLI has: the migration job is Kratos-style migrate sql -e --yes, the instances serve the mounted config', () => {
    const { instructions } = containerfile();
    expect(instructions.find(([op]) => op === 'ENTRYPOINT')?.[1]).toBe('["kairos"]');
    expect(services.migrate.command).toEqual(['migrate', 'sql', '-e', '--yes']);
    for (const name of ['kairos-1', 'kairos-2']) {
      expect(services[name].command).toEqual(['serve', '-c', '/etc/kairos/kairos.yml']);
      expect(services[name].depends_on.migrate.condition).toBe('service_completed_successfully');
    }
    expect(services.migrate.depends_on.postgres.condition).toBe('service_healthy');
    expect(services.postgres.healthcheck).toBeTruthy();
  });

  it('mounts files that exist in deploy/, into volumes the Containerfile declares; named volumes and networks are declared', () => {
    const { instructions } = containerfile();
    const declared = JSON.parse(instructions.find(([op]) => op === 'VOLUME')![1]) as string[];
    expect(declared).toEqual(['/etc/kairos', '/var/lib/kairos']);
    for (const [name, service] of Object.entries(services)) {
      for (const volume of (service.volumes ?? []) as string[]) {
        const [source, target] = volume.split(':') as [string, string];
        if (source.startsWith('.')) expect(existsSync(join(DEPLOY, source)), `services.${name}: ${source}`).toBe(true);
        else expect(Object.keys(file.volumes ?? {}), `services.${name}: named volume ${source}`).toContain(source);
        if (service.image === KAIROS_IMAGE) expect(declared.some((v) => target.startsWith(v + '/')), `${target} is inside a declared volume`).toBe(true);
      }
      for (const net of Array.isArray(service.networks) ? service.networks : Object.keys(service.networks ?? {})) expect(Object.keys(file.networks)).toContain(net);
      const deps = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
      for (const dep of deps) expect(Object.keys(services), `services.${name}.depends_on ${dep}`).toContain(dep);
    }
  });

  it('sets only environment variables Kairos reads (config overrides) or the Containerfile defines', () => {
    const containerEnv = read('Containerfile');
    for (const [name, service] of kairosServices) {
      for (const variable of Object.keys(service.environment)) {
        const isOverride = Object.keys(environmentOverrides({ [variable]: variable === 'SERVE_PUBLIC_PORT' ? '1' : 'x' })).length > 0;
        expect(isOverride || containerEnv.includes(`${variable}=`), `services.${name}.environment.${variable}`).toBe(true);
      }
    }
  });

  it('every ${VAR} it interpolates is in deploy/env.example, and env.example sets nothing it does not use', () => {
    const used = new Set(interpolated(read('deploy/compose.yml')));
    const example = Object.fromEntries(read('deploy/env.example').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=', 2) as [string, string]));
    expect([...used].sort()).toEqual(Object.keys(example).sort());
  });

  it('routes the proxy to both instances on their public port, and trusts X-Forwarded-For only from the proxy', () => {
    const caddy = read('deploy/Caddyfile');
    const sample = parseYaml(read('deploy/kairos.yml'));
    expect(caddy).toContain(`kairos-1:${sample.serve.public.port} kairos-2:${sample.serve.public.port}`);
    expect(caddy).toContain('health_uri /health/ready');
    expect(sample.serve.public.trusted_proxies).toEqual([services.proxy.networks.kairos.ipv4_address]);
    expect(services['kairos-1'].ports).toEqual([`127.0.0.1:${sample.serve.admin.port}:${sample.serve.admin.port}`]);
  });
});

describe('deploy/kairos.yml, the sample production config', () => {
  it('holds no secret and loads with every secret from the environment (names as in compose.yml), without warnings', () => {
    const raw = parseYaml(read('deploy/kairos.yml'));
    expect(raw.secrets).toBeUndefined();
    expect(raw.dsn).not.toMatch(/:[^/@]+@/);
    const example = Object.fromEntries(read('deploy/env.example').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=', 2) as [string, string]));
    const env = {
      DSN: 'postgres://kairos:pw@postgres:5432/kairos',
      SECRETS_DEFAULT: example.SECRETS_DEFAULT!,
      SECRETS_COOKIE: example.SECRETS_COOKIE!,
      SECRETS_CIPHER: example.SECRETS_CIPHER!,
      SERVE_ADMIN_API_KEYS: example.SERVE_ADMIN_API_KEYS!,
    };
    const { config, warnings } = loadConfig({ file: join(DEPLOY, 'kairos.yml'), env });
    expect(warnings).toEqual([]);
    expect(config.dev).toBe(false);
    expect(config.secrets.cipher).toEqual([example.SECRETS_CIPHER]);
    expect(config.serve.admin.api_keys).toEqual([example.SERVE_ADMIN_API_KEYS]);
    expect(config.log.format).toBe('json');
    expect(config.selfservice.methods.totp.enabled).toBe(true);
  });

  it('comments every key it sets: on its line, in the comment block above it, or above its parent block', () => {
    const lines = read('deploy/kairos.yml').split('\n');
    const commentedAt = (i: number) => lines[i]!.includes('#') || (i > 0 && /^\s*#/.test(lines[i - 1]!));
    const uncommented: string[] = [];
    lines.forEach((line, i) => {
      if (!/^\s*[a-z_]+:\s*\S/.test(line)) return; // leaf keys only
      const indent = line.search(/\S/);
      let parent = i - 1;
      while (parent >= 0 && !(/^\s*[a-z_]+:\s*$/.test(lines[parent]!) && lines[parent]!.search(/\S/) < indent)) parent--;
      // A comment anywhere in the key's own block, above it, counts too (keys grouped under one explanation).
      let j = i - 1;
      let blockComment = false;
      while (j > parent) {
        if (/^\s*#/.test(lines[j]!) && lines[j]!.search(/\S/) === indent) blockComment = true;
        j--;
      }
      if (!commentedAt(i) && !blockComment && !(parent >= 0 && commentedAt(parent))) uncommented.push(line.trim());
    });
    expect(uncommented).toEqual([]);
  });
});

/** Metric names a PromQL expression refers to (histogram series suffixes removed). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(kairos_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, ''));
}

/** Metrics declared in the source with a literal name (counters and gauges created on first use included). */
function declaredInSource(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
        for (const m of readFileSync(path, 'utf8').matchAll(/metrics\.(?:counter|gauge|histogram)\(\s*'(kairos_[a-z0-9_]+)'/g)) names.add(m[1]!);
    }
  };
  walk(join(ROOT, 'src'));
  return names;
}

describe('the dashboard and the alert rules query only metrics Kairos exports', () => {
  let k: TestKairos;
  let exported: Set<string>;
  beforeAll(async () => {
    k = await startKairos({ dialect: 'sqlite' });
    await fetch(`${k.publicUrl}/health/ready`);
    const runtime = (await k.deps.metrics.registry.getMetricsAsJSON()).map((m) => m.name);
    const process = (await new Metrics({ defaultMetrics: true }).registry.getMetricsAsJSON()).map((m) => m.name);
    exported = new Set([...runtime, ...process, ...declaredInSource()]);
  });
  afterAll(() => k?.close());

  const alerts = parseYaml(read('deploy/prometheus/alerts.yml'));
  const rules = alerts.groups.flatMap((g: any) => g.rules) as { alert: string; expr: string; labels: { severity: string }; annotations: { summary: string } }[];
  const dashboard = JSON.parse(read('deploy/grafana/kairos-dashboard.json'));
  const targets = dashboard.panels.flatMap((p: any) => p.targets) as { expr: string }[];

  it('has the alerts the operations kit promises, each with a severity and a summary', () => {
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining(['KairosNotReady', 'KairosLockoutSpike', 'KairosRejectionCauseSpike', 'KairosPopulationClockDrift', 'KairosServerClockOffset', 'KairosCourierBacklog']),
    );
    for (const rule of rules) {
      expect(['critical', 'warning', 'info']).toContain(rule.labels.severity);
      expect(rule.annotations.summary).toBeTruthy();
    }
  });

  it('every kairos_* metric in an alert rule exists', () => {
    const missing = rules.flatMap((r) => metricNames(r.expr)).filter((n) => !exported.has(n));
    expect(missing).toEqual([]);
  });

  it('every kairos_* metric on the dashboard exists, and every panel queries at least one', () => {
    for (const target of targets) expect(metricNames(target.expr).length, target.expr).toBeGreaterThan(0);
    const missing = targets.flatMap((t) => metricNames(t.expr)).filter((n) => !exported.has(n));
    expect(missing).toEqual([]);
  });

  it('default process metrics are kairos_process_* and kairos_nodejs_*, never kairos_process_process_*', () => {
    const names = [...exported];
    expect(DEFAULT_METRICS_PREFIX).toBe('kairos_');
    expect(names).toContain('kairos_process_cpu_seconds_total');
    expect(names).toContain('kairos_nodejs_eventloop_lag_p99_seconds');
    expect(names.filter((n) => n.startsWith('kairos_process_process_') || n.startsWith('kairos_process_nodejs_'))).toEqual([]);
  });
});

describe.each(DIALECTS)('operations metrics and readiness (%s)', (dialect) => {
  let k: TestKairos;
  beforeAll(async () => {
    k = await startKairos({ dialect, config: { selfservice: { methods: { code: { enabled: true } }, flows: { verification: { enabled: true } } } } });
  });
  afterAll(() => k?.close());
  const scrape = async () => (await fetch(`${k.adminUrl}/metrics`)).text();

  it('counts requests by route pattern (never the raw URL) and status, with a latency histogram', async () => {
    const flow = await k.frontend.createNativeLoginFlow();
    await fetch(`${k.publicUrl}/self-service/login/flows?id=${flow.id}`);
    await fetch(`${k.publicUrl}/no/such/path`);
    const text = await scrape();
    expect(text).toMatch(/^kairos_http_requests_total\{listener="public",method="GET",route="\/self-service\/login\/flows",status="200"\} 1$/m);
    expect(text).toMatch(/^kairos_http_requests_total\{listener="public",method="GET",route="\(unmatched\)",status="404"\} 1$/m);
    expect(text).toMatch(/^kairos_http_request_duration_seconds_count\{listener="public",method="GET",route="\/self-service\/login\/api",status="200"\} 1$/m);
    expect(text).not.toContain(flow.id);
  });

  it('reports the courier queue, pending MFA resets and locked-out identities from the database', async () => {
    const { identityId: identity } = await registerWithPassword(k, 'ops-metrics@example.com', 'a long enough passphrase');
    const queued = Number((await scrape()).match(/^kairos_courier_messages\{status="queued"\} (\d+)$/m)?.[1]);
    expect(queued).toBeGreaterThanOrEqual(1);
    const text = await scrape();
    expect(text).toMatch(/^kairos_mfa_resets_pending 0$/m);
    expect(text).toMatch(/^kairos_mfa_identities_locked_out 0$/m);
    expect(text).toMatch(/^kairos_ready 1$/m);
    const now = k.clock.nowMs();
    await k.deps.db.insertInto('mfa_lockouts').values({ identity_id: identity, consecutive_failures: 100, last_failure_at: now, next_attempt_at: null, locked_at: now, updated_at: now }).execute();
    expect(await scrape()).toMatch(/^kairos_mfa_identities_locked_out 1$/m);
  });

  it('the public /health/ready says only ready; the admin one has the details', async () => {
    const publicReady = await fetch(`${k.publicUrl}/health/ready`);
    expect(publicReady.status).toBe(200);
    expect(await publicReady.json()).toEqual({ status: 'ok' });
    const adminReady = (await (await fetch(`${k.adminUrl}/health/ready`)).json()) as any;
    expect(adminReady.status).toBe('ok');
    expect(adminReady.details.courier).toMatchObject({ smtp: 'not configured' });
  });
});

describe('log.format', () => {
  const secrets = { default: ['test-secret-default-0123456789'], cipher: ['test-cipher-secret-0123456789abcdef0123'] };
  it('defaults to text in dev mode at a terminal, json everywhere else; an explicit value wins', () => {
    const dev = (stdoutIsTTY: boolean, log?: object) => loadConfig({ dev: true, env: {}, stdoutIsTTY, devDirectory: join(tmpdir(), `kairos-log-format-${process.pid}`), overrides: log ? { log } : {} }).config.log.format;
    expect(dev(true)).toBe('text');
    expect(dev(false)).toBe('json');
    expect(dev(true, { format: 'json' })).toBe('json');
    expect(loadConfig({ env: {}, stdoutIsTTY: true, overrides: { dsn: 'memory', secrets } }).config.log.format).toBe('json');
  });

  it('text prints readable lines (no JSON) with the same redaction as JSON', () => {
    const { config } = loadConfig({ env: {}, overrides: { dsn: 'memory', secrets, log: { format: 'text' } } });
    let out = '';
    const sink = new Writable({ write: (chunk, _enc, done) => ((out += chunk.toString()), done()) });
    createLogger(config, sink).info({ password: 'hunter2-secret', flow_id: 'f-1' }, 'login rejected');
    expect(out).toMatch(/INFO.*login rejected/);
    expect(out).toContain('flow_id: "f-1"');
    expect(out).not.toContain('hunter2-secret');
    expect(out.trim().startsWith('{')).toBe(false);
  });
});
