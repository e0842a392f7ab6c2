/**
 * Threat: the server dies (SIGKILL, an OOM kill, a power cut of the container) in the middle of a security step, and
 * what it leaves behind is half a step: a second factor without its recovery codes, a recovery code burned without
 * its login, a session raised to aal2 by a step whose flow never finished, a lockout charge without its audit event.
 *
 * Real `kairos serve` processes (dist/cli/bin.js) on SQLite and PostgreSQL, killed with SIGKILL while a step's
 * transaction is open (pause points inside the step, src/support/test-pause.ts) or right after it committed (before
 * the answer left). After a restart every identity must be entirely before or entirely after its step: credential,
 * recovery codes, session AAL, flow state and audit events all-or-nothing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Configuration, FrontendApi } from '@ory/client-fetch';
import { createTestDatabase, DIALECTS, freePort, TEST_HASHERS, type TestDatabase } from '../support/harness.js';
import { spawnKairos, writeConfig, type KairosProcess } from '../support/process.js';
import { secretOf } from '../support/flows.js';
import { openStorage, type Storage } from '../../src/storage/db.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { decodeBase32, timeStep, totpCodeAt, type TotpParameters } from '../../src/otp/otp.js';

const PASSWORD = 'a long enough passphrase';
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const SHA1: TotpParameters = { algorithm: 'SHA1', digits: 6, periodSeconds: 30 };
const RECOVERY_CODES = ['aaaa-bbbb-cccc-dddd', 'eeee-ffff-gggg-hhhh', 'jjjj-kkkk-mmmm-nnnn'];

/** Real processes run on real time: the code of the current step (the ±1 window covers a step boundary). */
const totpNow = (secret: string) => totpCodeAt(decodeBase32(secret), SHA1, timeStep(Date.now(), SHA1.periodSeconds));
/** A code outside the window around now: certainly wrong. */
function wrongTotp(secret: string): string {
  const step = timeStep(Date.now(), SHA1.periodSeconds);
  const near = new Set([-2, -1, 0, 1, 2].map((d) => totpCodeAt(decodeBase32(secret), SHA1, step + d)));
  for (let n = 0; ; n++) {
    const candidate = String(n).padStart(6, '0');
    if (!near.has(candidate)) return candidate;
  }
}

interface Server {
  process: KairosProcess;
  publicUrl: string;
  adminUrl: string;
  frontend: FrontendApi;
}

/** An identity and the step about to be cut short, with what it takes to look at it afterwards. */
interface Subject {
  email: string;
  identityId: string;
  sessionToken: string;
  flowId: string;
}

describe.each(DIALECTS)('a server killed in the middle of a step (%s)', (dialect) => {
  let database: TestDatabase;
  let storage: Storage;
  let dir: string;
  let pauseFile: string;
  let server: Server | null = null;

  async function start(): Promise<Server> {
    const [publicPort, adminPort] = [await freePort(), await freePort()];
    const file = writeConfig(dir, 'kairos.yml', {
      dsn: database.dsn,
      serve: { public: { port: publicPort, base_url: `http://127.0.0.1:${publicPort}/`, rate_limit: { enabled: false } }, admin: { port: adminPort } },
      secrets: { default: ['test-secret-default-0123456789'], cipher: ['test-cipher-secret-0123456789abcdef0123'] },
      selfservice: { methods: { totp: { enabled: true }, lookup_secret: { enabled: true } } },
      courier: { worker: { enabled: false } },
      hashers: TEST_HASHERS,
    });
    const child = spawnKairos(['serve', '-c', file], { env: { DEV: undefined, KAIROS_TEST_HOOKS: '1', KAIROS_TEST_PAUSE_FILE: pauseFile } });
    await child.waitFor(/kairos is listening/);
    const publicUrl = `http://127.0.0.1:${publicPort}`;
    return { process: child, publicUrl, adminUrl: `http://127.0.0.1:${adminPort}`, frontend: new FrontendApi(new Configuration({ basePath: publicUrl })) };
  }

  /** SIGKILLs the server once `fire`'s request reached `point`, then starts a new one on the same database. */
  async function crashAt(point: string, fire: (s: Server) => Promise<unknown>): Promise<void> {
    const s = server!;
    writeFileSync(pauseFile, point);
    const answer = fire(s).then(
      () => 'answered',
      () => 'no answer',
    );
    await s.process.waitFor(new RegExp(`kairos test pause: ${point.replace('.', '\\.')}$`));
    s.process.child.kill('SIGKILL');
    await s.process.exited;
    rmSync(pauseFile, { force: true });
    // The answer of a step never leaves before its commit, and this one was killed before it was sent.
    expect(await answer).toBe('no answer');
    server = await start();
  }

  async function createIdentity(email: string, withSecondFactor: boolean): Promise<string> {
    const credentials: Record<string, unknown> = { password: { config: { password: PASSWORD } } };
    if (withSecondFactor) {
      credentials.totp = { config: { totp_url: `otpauth://totp/Acme:${email}?secret=${SECRET}&issuer=Acme` } };
      credentials.lookup_secret = { config: { codes: RECOVERY_CODES.map((code) => ({ code })) } };
    }
    const created = await fetch(`${server!.adminUrl}/admin/identities`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ schema_id: 'default', traits: { email }, credentials }),
    });
    expect(created.status).toBe(201);
    return ((await created.json()) as { id: string }).id;
  }

  async function passwordLogin(email: string): Promise<string> {
    const login = await server!.frontend.createNativeLoginFlow();
    const done = await server!.frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'password', identifier: email, password: PASSWORD } });
    return done.session_token!;
  }

  /** A session with the password, and a second-factor login flow waiting for a code. */
  async function pendingSecondFactor(email: string): Promise<Subject> {
    const identityId = await createIdentity(email, true);
    const sessionToken = await passwordLogin(email);
    const flow = await server!.frontend.createNativeLoginFlow({ aal: 'aal2', xSessionToken: sessionToken });
    return { email, identityId, sessionToken, flowId: flow.id };
  }

  const submitLogin = (subject: Subject, body: Record<string, unknown>) => (s: Server) =>
    fetch(`${s.publicUrl}/self-service/login?flow=${subject.flowId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-session-token': subject.sessionToken },
      body: JSON.stringify(body),
    });

  /** The session's level as whoami answers it on the restarted server (`refused` when aal2 is required but missing). */
  async function whoamiAal(subject: Subject): Promise<string> {
    const response = await fetch(`${server!.publicUrl}/sessions/whoami`, { headers: { 'x-session-token': subject.sessionToken } });
    if (response.status === 403) return 'refused: aal2 required';
    expect(response.status).toBe(200);
    return ((await response.json()) as { authenticator_assurance_level: string }).authenticator_assurance_level;
  }

  async function auditCount(subject: Subject, types: string[]): Promise<number> {
    const rows = await storage.db.selectFrom('audit_events').select('type').where('identity_id', '=', subject.identityId).where('type', 'in', types).execute();
    return rows.length;
  }

  async function flowOf(subject: Subject) {
    return storage.db.selectFrom('selfservice_flows').select(['state', 'failed_attempts']).where('id', '=', subject.flowId).executeTakeFirstOrThrow();
  }

  // ---- TOTP enrollment: credential, recovery codes, session AAL, flow, audit --------------------------------------

  /** A session at aal1 and a settings flow whose TOTP code was accepted: the codes' confirmation commits it all. */
  async function enrollmentWaitingForConfirmation(email: string): Promise<Subject> {
    const identityId = await createIdentity(email, false);
    const sessionToken = await passwordLogin(email);
    const flow = await server!.frontend.createNativeSettingsFlow({ xSessionToken: sessionToken });
    const shown = await server!.frontend.updateSettingsFlow({
      flow: flow.id,
      xSessionToken: sessionToken,
      updateSettingsFlowBody: { method: 'totp', totp_code: totpNow(secretOf(flow)) },
    });
    expect(shown.ui.nodes.some((n) => (n.attributes as { name?: string }).name === 'lookup_secret_confirm')).toBe(true);
    return { email, identityId, sessionToken, flowId: flow.id };
  }

  const confirmCodes = (subject: Subject) => (s: Server) =>
    fetch(`${s.publicUrl}/self-service/settings?flow=${subject.flowId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-session-token': subject.sessionToken },
      body: JSON.stringify({ method: 'lookup_secret', lookup_secret_confirm: true, transient_payload: { lookup_secret_acknowledged: true } }),
    });

  async function enrollmentState(subject: Subject) {
    const credentials = await storage.db.selectFrom('identity_credentials').select('type').where('identity_id', '=', subject.identityId).execute();
    const totpRows = await storage.db.selectFrom('totp_credentials').select('credential_id').where('identity_id', '=', subject.identityId).execute();
    const codes = await storage.db.selectFrom('lookup_secret_codes').select('id').where('identity_id', '=', subject.identityId).execute();
    return {
      totpCredential: credentials.filter((c) => c.type === 'totp').length + totpRows.length,
      recoveryCodes: codes.length > 0,
      aal: await whoamiAal(subject),
      flowState: (await flowOf(subject)).state,
      audit: await auditCount(subject, ['second_factor.enrolled', 'recovery_codes.generated']),
    };
  }
  const enrollmentBefore = { totpCredential: 0, recoveryCodes: false, aal: 'aal1', flowState: 'show_form', audit: 0 };
  const enrollmentAfter = { totpCredential: 2, recoveryCodes: true, aal: 'aal2', flowState: 'success', audit: 2 };

  // ---- recovery-code use at login: the code, the session's AAL, the flow, the audit --------------------------------

  async function recoveryCodeState(subject: Subject) {
    const used = await storage.db.selectFrom('lookup_secret_codes').select('id').where('identity_id', '=', subject.identityId).where('used_at', 'is not', null).execute();
    return {
      codesUsed: used.length,
      aal: await whoamiAal(subject),
      flowState: (await flowOf(subject)).state,
      audit: await auditCount(subject, ['recovery_codes.used']),
    };
  }
  const recoveryCodeBefore = { codesUsed: 0, aal: 'refused: aal2 required', flowState: 'choose_method', audit: 0 };
  const recoveryCodeAfter = { codesUsed: 1, aal: 'aal2', flowState: 'passed_challenge', audit: 1 };

  // ---- a lockout charge: the identity's counter, the flow's budget, the audit ---------------------------------------

  async function lockoutState(subject: Subject) {
    const lockout = await storage.db.selectFrom('mfa_lockouts').select('consecutive_failures').where('identity_id', '=', subject.identityId).executeTakeFirst();
    return {
      consecutiveFailures: lockout?.consecutive_failures ?? 0,
      flowFailedAttempts: Number((await flowOf(subject)).failed_attempts),
      aal: await whoamiAal(subject),
      audit: await auditCount(subject, ['second_factor.rejected']),
    };
  }
  const lockoutBefore = { consecutiveFailures: 0, flowFailedAttempts: 0, aal: 'refused: aal2 required', audit: 0 };
  const lockoutAfter = { consecutiveFailures: 1, flowFailedAttempts: 1, aal: 'refused: aal2 required', audit: 1 };

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    storage = openStorage(database.dsn);
    await migrateToLatest(storage);
    dir = mkdtempSync(join(tmpdir(), 'kairos-crash-'));
    pauseFile = join(dir, 'pause-at');
    server = await start();
  }, 60_000);

  afterAll(async () => {
    if (server) await server.process.stop();
    await storage?.close();
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('TOTP enrollment killed with its credential written but codes, session and flow not: nothing of it remains', async () => {
    const subject = await enrollmentWaitingForConfirmation(`crash-enroll-mid-${dialect}@example.com`);
    await crashAt('totp.enrollment_written', confirmCodes(subject));
    expect(await enrollmentState(subject)).toEqual(enrollmentBefore);
  }, 60_000);

  it('TOTP enrollment killed after everything was written, before the commit: nothing of it remains', async () => {
    const subject = await enrollmentWaitingForConfirmation(`crash-enroll-precommit-${dialect}@example.com`);
    await crashAt('settings.before_commit', confirmCodes(subject));
    expect(await enrollmentState(subject)).toEqual(enrollmentBefore);
  }, 60_000);

  it('TOTP enrollment killed after its commit, before the answer: all of it remains', async () => {
    const subject = await enrollmentWaitingForConfirmation(`crash-enroll-after-${dialect}@example.com`);
    await crashAt('settings.after_commit', confirmCodes(subject));
    expect(await enrollmentState(subject)).toEqual(enrollmentAfter);
  }, 60_000);

  it('a recovery code consumed by a login killed before its session was raised is not burned', async () => {
    const subject = await pendingSecondFactor(`crash-code-mid-${dialect}@example.com`);
    await crashAt('lookup_secret.consumed', submitLogin(subject, { method: 'lookup_secret', lookup_secret: RECOVERY_CODES[0] }));
    expect(await recoveryCodeState(subject)).toEqual(recoveryCodeBefore);
  }, 60_000);

  it('a recovery-code login killed after its commit keeps the code used and the session at aal2', async () => {
    const subject = await pendingSecondFactor(`crash-code-after-${dialect}@example.com`);
    await crashAt('login.after_commit', submitLogin(subject, { method: 'lookup_secret', lookup_secret: RECOVERY_CODES[1] }));
    expect(await recoveryCodeState(subject)).toEqual(recoveryCodeAfter);
  }, 60_000);

  it('a lockout charge killed before the flow and the audit event were written leaves no charge', async () => {
    const subject = await pendingSecondFactor(`crash-lockout-mid-${dialect}@example.com`);
    await crashAt('lockout.charged', submitLogin(subject, { method: 'totp', totp_code: wrongTotp(SECRET) }));
    expect(await lockoutState(subject)).toEqual(lockoutBefore);
  }, 60_000);

  it('a lockout charge killed after its commit is counted for the identity and the flow, and audited', async () => {
    const subject = await pendingSecondFactor(`crash-lockout-after-${dialect}@example.com`);
    await crashAt('login.after_commit', submitLogin(subject, { method: 'totp', totp_code: wrongTotp(SECRET) }));
    expect(await lockoutState(subject)).toEqual(lockoutAfter);
  }, 60_000);

  it('after all the crashes, every identity is still either entirely before or entirely after its step', async () => {
    // Earlier subjects, checked again on the last server: nothing a later crash or restart did changed them.
    const subjects = await storage.db.selectFrom('identities').select('id').execute();
    expect(subjects.length).toBe(7);
    const halfDone = await storage.db
      .selectFrom('identity_credentials as c')
      .leftJoin('lookup_secret_codes as l', 'l.identity_id', 'c.identity_id')
      .select(['c.identity_id'])
      .where('c.type', '=', 'totp')
      .where('l.id', 'is', null)
      .execute();
    // A TOTP credential without recovery codes would be half an enrollment.
    expect(halfDone).toEqual([]);
  }, 60_000);
});
