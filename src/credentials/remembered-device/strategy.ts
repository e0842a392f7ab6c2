/**
 * Remembered browsers (mfa/policy `remember_device`) in settings (node group `remembered_device`): each one with when it was remembered and until
 * when, a button to forget it (`remembered_device_remove` = its id) and one to forget all (`all`). Forgetting needs
 * no privileged session: it only takes access away.
 */
import Bowser from 'bowser';
import type { Deps } from '../../deps.js';
import { FlowValidationError, type Flow } from '../../flows/flow.js';
import { NOT_RESPONSIBLE, type NotResponsible, type SettingsResult, type SettingsStrategy } from '../../flows/strategy.js';
import type { Identity } from '../../identity/identity.js';
import { inputNode, textNode, type UiNode } from '../../ui/nodes.js';
import type { PolicyEnforcer } from '../../mfa/policy/enforcer.js';
import { policyMsg } from '../../mfa/policy/messages.js';

export const REMEMBERED_DEVICE_GROUP = 'remembered_device';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** "Firefox on Linux" from a User-Agent header (the browser as people know it); "a browser" when unknown. */
export function browserName(userAgent: string | null): string {
  if (!userAgent) return 'a browser';
  const parsed = Bowser.parse(userAgent);
  const browser = parsed.browser.name;
  const os = parsed.os.name;
  return browser && os ? `${browser} on ${os}` : browser || os || 'a browser';
}

export class RememberedDeviceStrategy implements SettingsStrategy {
  readonly id = REMEMBERED_DEVICE_GROUP;

  constructor(
    private readonly deps: Pick<Deps, 'clock'>,
    private readonly enforcer: PolicyEnforcer,
  ) {}

  async settingsNodes(_flow: Flow, identity: Identity): Promise<UiNode[]> {
    const devices = await this.enforcer.repository.activeDevices(identity.id, this.deps.clock.nowMs());
    if (devices.length === 0) return [];
    const nodes: UiNode[] = [textNode(REMEMBERED_DEVICE_GROUP, 'remembered_device_help', policyMsg.devicesExplained())];
    for (const d of devices) {
      nodes.push(
        inputNode(REMEMBERED_DEVICE_GROUP, 'remembered_device_remove', 'submit', {
          value: d.id,
          label: policyMsg.forgetDevice({ id: d.id, browser: browserName(d.userAgent), createdAtMs: d.createdAtMs, expiresAtMs: d.expiresAtMs }),
        }),
      );
    }
    if (devices.length > 1) nodes.push(inputNode(REMEMBERED_DEVICE_GROUP, 'remembered_device_remove', 'submit', { value: 'all', label: policyMsg.forgetAllDevices() }));
    return nodes;
  }

  async settings(input: Parameters<SettingsStrategy['settings']>[0]): Promise<SettingsResult | NotResponsible> {
    const { body, identity, trx, session, request } = input;
    const target = typeof body.remembered_device_remove === 'string' ? body.remembered_device_remove : null;
    if (!target && body.method !== REMEMBERED_DEVICE_GROUP) return NOT_RESPONSIBLE;
    if (!target || (target !== 'all' && !UUID.test(target))) throw FlowValidationError.global(policyMsg.deviceUnknown());
    const count = await this.enforcer.revokeDevices(trx, {
      identityId: identity.id,
      reason: 'user',
      ...(target === 'all' ? {} : { deviceId: target.toLowerCase() }),
      actor: 'self',
      ipAddress: request.ip,
      sessionId: session.id,
    });
    if (count === 0) throw FlowValidationError.global(policyMsg.deviceUnknown());
    return { outcome: 'saved', messages: [policyMsg.devicesForgotten(count)] };
  }
}
