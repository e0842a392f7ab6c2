import type { Deps } from '../../deps.js';
import type { KairosModule } from '../../module.js';
import type { PolicyModule } from '../../mfa/policy/module.js';
import { RememberedDeviceStrategy } from './strategy.js';

/**
 * The settings side of remembered devices (node group `remembered_device`), beside the MFA policy module whose
 * enforcer issues, checks and revokes them. In play only when policies are configured.
 */
export function rememberedDeviceModule(deps: Deps, policy: PolicyModule): KairosModule | null {
  if (!policy.active) return null;
  return { name: 'remembered_device', strategies: { settings: [new RememberedDeviceStrategy(deps, policy.enforcer)] } };
}
