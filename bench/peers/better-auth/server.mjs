// Better Auth as the bench peer: email+password and the twoFactor plugin on SQLite (better-sqlite3 12), served by
// node:http through better-auth/node, in its own process. Started by bench/run.mjs:
//   node server.mjs <port> <sqlite file>
// Besides Better Auth's own routes (/api/auth/*) it answers two bench-only routes that prepare data through Better
// Auth's own adapter and crypto (the peer's equivalent of bench/kairos-fixtures.ts):
//   POST /bench/seed        {from, to}: users with a password and an enabled TOTP factor
//   POST /bench/challenges  {indexes}: pending two-factor challenges, exactly what sign-in's after-hook creates
import { createServer } from 'node:http';
import Database from 'better-sqlite3';
import { betterAuth } from 'better-auth';
import { twoFactor } from 'better-auth/plugins';
import { toNodeHandler } from 'better-auth/node';
import { getMigrations } from 'better-auth/db/migration';
import { hashPassword, symmetricEncrypt, generateRandomString } from 'better-auth/crypto';
import { createHmac } from 'node:crypto';

/** better-call's signed-cookie format: `value.base64(HMAC-SHA256(secret, value))`, URI-encoded. */
const signCookieValue = (value, secret) => encodeURIComponent(`${value}.${createHmac('sha256', secret).update(value).digest('base64')}`);

const port = Number(process.argv[2] ?? 4500);
const file = process.argv[3] ?? './peer.sqlite';
const SECRET = 'bench-peer-secret-0123456789abcdef0123456789';
export const PEER_PASSWORD = 'bench-Password-4f9c2e81';

const database = new Database(file);
database.pragma('journal_mode = WAL');
database.pragma('synchronous = NORMAL');
database.pragma('busy_timeout = 5000');

// The load test comes from one IP. Better Auth's defaults would answer 429 almost at once (global 100/10 s; its
// special rule for /sign-in*: 3 per 10 s; the twoFactor plugin's /two-factor/*: 3 per 10 s). The limiter stays
// enabled (every request still pays for the check, as in Kairos); only the ceilings are raised.
const RAISED = { window: 10, max: 1_000_000_000 };
export const auth = betterAuth({
  appName: 'bench',
  baseURL: `http://127.0.0.1:${port}`,
  secret: SECRET,
  database,
  emailAndPassword: { enabled: true },
  plugins: [twoFactor({ issuer: 'bench' })],
  rateLimit: { enabled: true, window: 10, max: 1_000_000_000, customRules: { '/sign-in/*': RAISED, '/sign-up/*': RAISED, '/two-factor/*': RAISED } },
  logger: { level: 'error' },
});

const { runMigrations } = await getMigrations(auth.options);
await runMigrations();
const ctx = await auth.$context;

/** The TOTP secret string of peer user `index` (Better Auth keys HMAC with the secret string's bytes). */
const secretOf = (index) => `peer-totp-${String(index).padStart(8, '0')}-abcdefghijklm`;
const emailOf = (index) => `bench-${index}@bench.example`;
let hashedPassword = null;
const userIds = new Map();

async function seed(from, to) {
  // One scrypt hash with Better Auth's own parameters, reused (as the Kairos seeder does with argon2).
  hashedPassword ??= await hashPassword(PEER_PASSWORD);
  for (let i = from; i < to; i++) {
    const user = await ctx.internalAdapter.createUser({ email: emailOf(i), name: `bench ${i}`, emailVerified: true, twoFactorEnabled: true });
    await ctx.internalAdapter.linkAccount({ userId: user.id, providerId: 'credential', accountId: user.id, password: hashedPassword });
    await ctx.adapter.create({
      model: 'twoFactor',
      data: {
        userId: user.id,
        secret: await symmetricEncrypt({ key: ctx.secretConfig, data: secretOf(i) }),
        backupCodes: await symmetricEncrypt({ key: ctx.secretConfig, data: JSON.stringify([]) }),
        verified: true,
      },
    });
    userIds.set(i, user.id);
  }
}

async function challenges(indexes) {
  const cookieName = ctx.createAuthCookie('two_factor', { maxAge: 600 }).name;
  const out = [];
  for (const i of indexes) {
    const identifier = `2fa-${generateRandomString(20)}`;
    const expiresAt = new Date(Date.now() + 600_000);
    await ctx.internalAdapter.createVerificationValue({ value: userIds.get(i), identifier, expiresAt });
    await ctx.internalAdapter.createVerificationValue({ value: '0', identifier: `2fa-attempts-${identifier}`, expiresAt });
    out.push(`${cookieName}=${signCookieValue(identifier, SECRET)}`);
  }
  return out;
}

const betterAuthHandler = toNodeHandler(auth);
const readJson = (req) =>
  new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => resolve(data ? JSON.parse(data) : {}));
    req.on('error', reject);
  });

createServer(async (req, res) => {
  try {
    if (req.url === '/health') return res.end('ok');
    if (req.url === '/bench/seed' && req.method === 'POST') {
      const { from, to } = await readJson(req);
      database.exec('BEGIN');
      try {
        await seed(from, to);
        database.exec('COMMIT');
      } catch (err) {
        database.exec('ROLLBACK');
        throw err;
      }
      return res.end(JSON.stringify({ ok: true }));
    }
    if (req.url === '/bench/challenges' && req.method === 'POST') {
      const { indexes } = await readJson(req);
      database.exec('BEGIN');
      let cookies;
      try {
        cookies = await challenges(indexes);
        database.exec('COMMIT');
      } catch (err) {
        database.exec('ROLLBACK');
        throw err;
      }
      return res.end(JSON.stringify({ cookies }));
    }
    return betterAuthHandler(req, res);
  } catch (err) {
    res.statusCode = 500;
    res.end(String(err?.stack ?? err));
  }
}).listen(port, '127.0.0.1', () => process.stdout.write(`ready ${port}\n`));
