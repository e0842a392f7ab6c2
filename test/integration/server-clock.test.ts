import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKairos, type TestKairos } from '../support/harness.js';
import { startNtpResponder } from '../support/ntp-responder.js';
import { ManualClock } from '../../src/support/clock.js';

describe('server clock check against a local NTP responder', () => {
  let k: TestKairos;
  let responder: Awaited<ReturnType<typeof startNtpResponder>>;
  const clock = new ManualClock();
  beforeAll(async () => {
    responder = await startNtpResponder({ offsetMs: 60_000, clock });
    k = await startKairos({ dialect: 'sqlite', clock, config: { clock: { ntp: { servers: [`127.0.0.1:${responder.port}`], timeout: '1s' } } } });
    const module = k.server.modules.find((m) => m.name === 'server_clock')!;
    for (let i = 0; i < 50 && (((await module.health!()) as any).status ?? 'unknown') === 'unknown'; i++) await new Promise((r) => setTimeout(r, 20));
  });
  afterAll(async () => {
    await k?.close();
    await responder?.close();
  });

  it('reports a server 60 s behind on /health/ready, in the gauge and as a warning, without failing readiness', async () => {
    const ready = await fetch(k.adminUrl + '/health/ready');
    expect(ready.status).toBe(200);
    const body = await ready.json();
    expect(body.details.server_clock.status).toBe('skewed');
    expect(Math.round(body.details.server_clock.lastOffsetMs / 1000)).toBe(60);
    const metrics = await (await fetch(k.adminUrl + '/metrics')).text();
    expect(metrics).toMatch(/kairos_server_clock_offset_seconds 60/);
    expect(k.logs.records().some((r) => r.level === 40 && String(r.msg).includes('BEHIND'))).toBe(true);
  });
});

describe('an unreachable NTP server is a warning, never a failed start', () => {
  it('starts and stays ready', async () => {
    const k = await startKairos({ dialect: 'sqlite', config: { clock: { ntp: { servers: ['127.0.0.1:9'], timeout: '200ms' } } } });
    try {
      expect((await fetch(k.publicUrl + '/health/ready')).status).toBe(200);
    } finally {
      await k.close();
    }
  });
});
