import { describe, expect, it } from 'vitest';
import { lockoutMessages } from './messages.js';

describe('lockout messages', () => {
  it('pins the ids and says when to retry', () => {
    const now = Date.UTC(2026, 11, 1, 12, 0, 0);
    expect(lockoutMessages.delayed(now + 2500, now)).toEqual({
      id: 4900100,
      type: 'error',
      text: 'Too many wrong codes. Wait 3 seconds, then try again. The code was not checked.',
      context: { retry_at: '2026-12-01T12:00:02.500Z', retry_at_unix: Math.ceil((now + 2500) / 1000), retry_after_seconds: 3 },
    });
    expect(lockoutMessages.locked(now).id).toBe(4900101);
    expect(lockoutMessages.locked(now).context).toEqual({ locked_at: '2026-12-01T12:00:00.000Z' });
    expect(lockoutMessages.flowBudgetUsed()).toEqual({ id: 4900102, type: 'error', text: 'Too many wrong codes. Sign in again.' });
  });
});
