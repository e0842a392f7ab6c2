import { createHmac, timingSafeEqual } from 'node:crypto';

/** Keyed hash used for every stored token and code: HMAC-SHA256, hex. */
export function keyedHash(key: string | Uint8Array, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('hex');
}

/** Constant-time string comparison (lengths are compared first; that leaks only the length). */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  if (left.length !== right.length) return false;
  return timingSafeEqual(left, right);
}
