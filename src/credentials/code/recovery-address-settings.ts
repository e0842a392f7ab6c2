/**
 * Secondary recovery addresses (Kairos): in the settings flow, a dedicated node group `recovery_address` lets a
 * user add an email address (besides the schema's) to recover the account with, and remove one.
 *
 * - Adding or removing one needs a privileged session: a stolen session must not plant an attacker's mailbox as a
 *   way back in.
 * - A new address is stored unverified and a verification code is sent to it at once (a verification flow is
 *   started for it; message 1900305 names the flow). It counts for recovery only after that code is entered
 *   (RecoveryAddressBook); an unverified address never does.
 * - At most MAX_SECONDARY_RECOVERY_ADDRESSES per identity; one verified owner per address.
 */
import type { Deps } from '../../deps.js';
import type { Identity } from '../../identity/identity.js';
import type { FlowEngine } from '../../flows/engine.js';
import { FlowValidationError, type Flow } from '../../flows/flow.js';
import { NOT_RESPONSIBLE, type NotResponsible, type SettingsResult, type SettingsStrategy } from '../../flows/strategy.js';
import { isUniqueViolation } from '../../storage/db.js';
import { inputNode, textNode, type UiNode } from '../../ui/nodes.js';
import { codeMsg } from './messages.js';
import { parseEmail, type CodeVerificationStrategy } from './verification.js';

export const RECOVERY_ADDRESS_METHOD = 'recovery_address';
/** Enough for a personal and a work mailbox and a spare; a bound keeps the list (and the notices) small. */
export const MAX_SECONDARY_RECOVERY_ADDRESSES = 3;

type SettingsDeps = Pick<Deps, 'recoveryAddresses' | 'identities' | 'audit' | 'flows' | 'db' | 'clock'>;

export class RecoveryAddressSettingsStrategy implements SettingsStrategy {
  readonly id = RECOVERY_ADDRESS_METHOD;
  engine: FlowEngine | null = null;

  constructor(
    private readonly deps: SettingsDeps,
    private readonly verification: CodeVerificationStrategy,
  ) {}

  async settingsNodes(_flow: Flow, identity: Identity): Promise<UiNode[]> {
    const nodes: UiNode[] = [];
    const addresses = await this.deps.recoveryAddresses.listSecondary(identity.id);
    addresses.forEach((a, i) => {
      nodes.push(textNode('recovery_address', `recovery_address_${i}`, a.verified ? codeMsg.recoveryAddressVerified(a.value) : codeMsg.recoveryAddressPending(a.value)));
      nodes.push(inputNode('recovery_address', 'recovery_address_remove', 'submit', { value: a.value, label: codeMsg.labelRemoveRecoveryAddress(a.value) }));
    });
    nodes.push(inputNode('recovery_address', 'recovery_address', 'email', { autocomplete: 'email', label: codeMsg.labelSecondaryRecoveryAddress() }));
    nodes.push(inputNode('recovery_address', 'method', 'submit', { value: RECOVERY_ADDRESS_METHOD, label: codeMsg.labelAddRecoveryAddress() }));
    return nodes;
  }

  async settings(input: Parameters<SettingsStrategy['settings']>[0]): Promise<SettingsResult | NotResponsible> {
    const { body, identity, flow } = input;
    const remove = typeof body.recovery_address_remove === 'string' ? body.recovery_address_remove : null;
    if (body.method !== RECOVERY_ADDRESS_METHOD && !(body.method === undefined && remove !== null)) return NOT_RESPONSIBLE;
    input.requirePrivileged();
    const audit = (details: Record<string, unknown>) =>
      this.deps.audit.record(input.trx, { type: 'identity.updated', identityId: identity.id, sessionId: input.session.id, flowId: flow.id, actor: 'self', ipAddress: input.request.ip, userAgent: input.request.userAgent, details: { via: 'settings', ...details } });

    if (remove !== null) {
      const removed = await this.deps.recoveryAddresses.removeSecondary(identity.id, remove);
      if (!removed) throw FlowValidationError.global(codeMsg.recoveryAddressUnknown());
      await audit({ recovery_address_removed: true });
      return { outcome: 'saved' };
    }

    const address = parseEmail(body.recovery_address, 'recovery_address');
    const existing = await this.deps.recoveryAddresses.listSecondary(identity.id);
    const own = [...identity.recoveryAddresses, ...identity.verifiableAddresses].map((a) => a.value);
    if (own.includes(address) || existing.some((a) => a.value === address)) {
      throw new FlowValidationError([{ field: 'recovery_address', message: codeMsg.recoveryAddressDuplicate() }], { recovery_address: address });
    }
    if (existing.length >= MAX_SECONDARY_RECOVERY_ADDRESSES) {
      throw new FlowValidationError([{ field: 'recovery_address', message: codeMsg.recoveryAddressLimit(MAX_SECONDARY_RECOVERY_ADDRESSES) }], { recovery_address: address });
    }
    if (!this.engine) throw new Error('recovery address settings used before the engine exists');
    const verificationFlow = this.engine.newFlow('verification', flow.type, `/self-service/verification/${flow.type}`);
    await this.deps.flows.insert(verificationFlow);
    let addressId = '';
    try {
      await this.deps.identities.inTransaction(this.deps.db, async (trx) => {
        const added = await this.deps.recoveryAddresses.addSecondary(identity.id, address, 'email', trx);
        addressId = added.id;
        await this.verification.sendCode(verificationFlow, address, { identityId: identity.id, db: trx, acceptLanguage: input.request.acceptLanguage ?? null });
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new FlowValidationError([{ field: 'recovery_address', message: codeMsg.recoveryAddressDuplicate() }], { recovery_address: address });
      if (err instanceof FlowValidationError) {
        // Throttled: nothing was added; show the reason on this form's field.
        throw new FlowValidationError(err.problems.map((p) => ({ ...p, field: 'recovery_address' })), { recovery_address: address });
      }
      throw err;
    }
    await this.deps.flows.update(verificationFlow, this.deps.clock.nowMs());
    await audit({ recovery_address_added: true, recovery_address_id: addressId, verification_flow_id: verificationFlow.id });
    return { outcome: 'saved', messages: [codeMsg.recoveryAddressCodeSent(address, verificationFlow.id)] };
  }
}
