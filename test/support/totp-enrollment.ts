import { expect } from 'vitest';
import type { TestKairos } from './harness.js';

/** require_recovery_codes (default with lookup secrets): TOTP is enrolled once the shown recovery codes are confirmed. */
export async function confirmRecoveryCodes(k: TestKairos, flowId: string, token: string): Promise<void> {
  const done = await k.frontend.updateSettingsFlow({
    flow: flowId,
    xSessionToken: token,
    updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_confirm: true, transient_payload: { lookup_secret_acknowledged: true } } as any,
  });
  expect(done.state).toBe('success');
}
