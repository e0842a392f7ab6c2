// CPU floors, each in its own process on the same cores as the servers:
//   node cpu.mjs argon2 <memory_kib> <iterations> <parallelism> <seconds> <concurrency>
//     argon2id verifications with the configured parameters through @node-rs/argon2 (the library Kairos uses; it
//     runs on libuv's thread pool, as in the server), `concurrency` in flight at once like 50 HTTP connections.
//   node cpu.mjs argon2-hash <same arguments>
//     the same with new hashes (a fresh salt each): registration's floor, since a registration hashes and a hash
//     costs more than a verification (salt generation and encoding).
//   node cpu.mjs hmac <seconds>
//     HOTP values (RFC 4226: one HMAC-SHA1 over the 8-byte counter plus dynamic truncation) on one thread.
// Prints one JSON line: {ops_per_s, single_ms, cpu_ms_per_op} (CPU: the whole process, thread pool included).
import { createHmac } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';

const [mode, ...rest] = process.argv.slice(2);

async function argon2Floor(memoryCost, timeCost, parallelism, seconds, concurrency, op = 'verify') {
  const password = 'bench-Password-4f9c2e81';
  const hashed = await hash(password, { algorithm: 2, memoryCost, timeCost, parallelism });
  const once = op === 'hash' ? async () => (await hash(password, { algorithm: 2, memoryCost, timeCost, parallelism })).startsWith('$argon2id$') : () => verify(hashed, password);
  for (let i = 0; i < 4; i++) await once(); // warm-up
  const singles = [];
  for (let i = 0; i < 10; i++) {
    const t = process.hrtime.bigint();
    await once();
    singles.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  singles.sort((a, b) => a - b);
  let done = 0;
  const end = Date.now() + seconds * 1000;
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        if (!(await once())) throw new Error(`argon2 ${op} failed`);
        done++;
      }
    }),
  );
  const elapsedS = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { ops_per_s: done / elapsedS, single_ms: singles[Math.floor(singles.length / 2)], cpu_ms_per_op: (cpu.user + cpu.system) / 1000 / done };
}

function hotp(key, counter) {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(BigInt(counter));
  const h = createHmac('sha1', key).update(buf).digest();
  const o = h[h.length - 1] & 15;
  return ((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).toString().padStart(6, '0');
}

function hmacFloor(seconds) {
  const key = Buffer.alloc(20, 7);
  let done = 0;
  let sink = 0;
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  const endNs = start + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < endNs) {
    for (let i = 0; i < 1000; i++) sink ^= hotp(key, done + i).charCodeAt(0);
    done += 1000;
  }
  const elapsedS = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { ops_per_s: done / elapsedS, single_ms: (elapsedS * 1000) / done, cpu_ms_per_op: (cpu.user + cpu.system) / 1000 / done, sink };
}

const result =
  mode === 'argon2' ? await argon2Floor(...rest.map(Number)) : mode === 'argon2-hash' ? await argon2Floor(...rest.map(Number), 'hash') : hmacFloor(Number(rest[0] ?? 3));
process.stdout.write(JSON.stringify(result) + '\n');
