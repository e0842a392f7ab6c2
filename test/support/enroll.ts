/**
 * Completes a TOTP enrollment in a native settings flow the way a client must: the TOTP code, then (when recovery
 * codes are mandatory, the default) the acknowledged `lookup_secret_confirm`. Tests about TOTP itself use this;
 * test/integration/lookup-secret.test.ts covers the confirmation step in detail.
 */
import { expect } from 'vitest';
import type { FrontendApi, SettingsFlow } from '@ory/client-fetch';

/** The acknowledged `lookup_secret_confirm` that finishes a TOTP enrollment showing recovery codes. */
function submitRecoveryCodeConfirmation(server: { frontend: FrontendApi }, flowId: string, token: string): Promise<SettingsFlow> {
  return server.frontend.updateSettingsFlow({
    flow: flowId,
    xSessionToken: token,
    updateSettingsFlowBody: { method: 'lookup_secret', lookup_secret_confirm: true, transient_payload: { lookup_secret_acknowledged: true } },
  });
}

export async function submitTotpEnrollment(
  server: { frontend: FrontendApi },
  input: { flowId: string; token: string; code: string },
): Promise<SettingsFlow> {
  const saved = await server.frontend.updateSettingsFlow({
    flow: input.flowId,
    xSessionToken: input.token,
    updateSettingsFlowBody: { method: 'totp', totp_code: input.code },
  });
  const confirm = saved.ui.nodes.some((n) => (n.attributes as { name?: string }).name === 'lookup_secret_confirm');
  if (saved.state === 'success' || !confirm) return saved;
  return submitRecoveryCodeConfirmation(server, input.flowId, input.token);
}

/** require_recovery_codes (default with lookup secrets): TOTP is enrolled once the shown recovery codes are confirmed. */
export async function confirmRecoveryCodes(server: { frontend: FrontendApi }, flowId: string, token: string): Promise<void> {
  const done = await submitRecoveryCodeConfirmation(server, flowId, token);
  expect(done.state).toBe('success');
}
