import { describe, expect, it } from 'vitest';
import { probeTool } from './external-tool.js';

describe('external tool probe (a broken checker is a failure, never a silent skip)', () => {
  it('a program that is not on the PATH is "missing" (skipped locally, failing under CI)', () => {
    expect(probeTool('kairos-no-such-program-7f3a')).toEqual({ state: 'missing' });
  });

  it('a program on the PATH whose probe exits non-zero is "broken", with the reason', () => {
    const status = probeTool('sh', ['-c', 'echo probe exploded >&2; exit 3']);
    expect(status.state).toBe('broken');
    expect(status.state === 'broken' && status.reason).toMatch(/exited 3: probe exploded/);
  });

  it('a program whose probe succeeds is "ok"', () => {
    expect(probeTool('sh', ['-c', 'exit 0'])).toEqual({ state: 'ok' });
  });
});
