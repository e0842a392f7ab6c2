import type { Deps } from '../../deps.js';
import type { Identity } from '../../identity/identity.js';
import { DuplicateIdentifierError, TraitsInvalidError } from '../../identity/identity-service.js';
import { coerceTraits, traitNodes } from '../../identity/trait-nodes.js';
import { FlowValidationError, type Flow } from '../../flows/flow.js';
import { NOT_RESPONSIBLE, type NotResponsible, type SettingsResult, type SettingsStrategy } from '../../flows/strategy.js';
import { inputNode, type UiNode } from '../../ui/nodes.js';
import { msg } from '../../ui/messages.js';
import { flattenTraits } from '../password/strategy.js';

type ProfileDeps = Pick<Deps, 'identities' | 'schemas' | 'audit'>;

/** Profile: changes traits in the settings flow. Changing an identifier or address needs a privileged session. */
export class ProfileStrategy implements SettingsStrategy {
  readonly id = 'profile';

  constructor(private readonly deps: ProfileDeps) {}

  settingsNodes(_flow: Flow, identity: Identity): UiNode[] {
    const schema = this.deps.schemas.get(identity.schemaId) ?? this.deps.schemas.getDefault();
    return [...traitNodes(schema, 'profile', identity.traits), inputNode('profile', 'method', 'submit', { value: 'profile', label: msg.labelSave() })];
  }

  async settings(input: Parameters<SettingsStrategy['settings']>[0]): Promise<SettingsResult | NotResponsible> {
    const { body, identity } = input;
    if (body.method !== 'profile') return NOT_RESPONSIBLE;
    const schema = this.deps.schemas.get(identity.schemaId) ?? this.deps.schemas.getDefault();
    const traits = coerceTraits(schema, body.traits ?? {});
    const keep = flattenTraits(traits);
    try {
      this.deps.identities.validateTraits(identity.schemaId, traits);
    } catch (err) {
      if (err instanceof TraitsInvalidError) throw new FlowValidationError(err.problems, keep);
      throw err;
    }
    const before = this.deps.identities.facts(identity);
    const after = this.deps.identities.facts({ schemaId: identity.schemaId, traits });
    const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));
    const protectedChanged =
      !sameSet(before.passwordIdentifiers, after.passwordIdentifiers) ||
      !sameSet(before.codeIdentifiers, after.codeIdentifiers) ||
      !sameSet(before.recoveryAddresses.map((a) => a.value), after.recoveryAddresses.map((a) => a.value)) ||
      !sameSet(before.verificationAddresses.map((a) => a.value), after.verificationAddresses.map((a) => a.value));
    if (protectedChanged) input.requirePrivileged();
    identity.traits = traits;
    try {
      await this.deps.identities.update(identity);
    } catch (err) {
      if (err instanceof DuplicateIdentifierError) throw new FlowValidationError([{ field: null, message: msg.duplicateCredentials() }], keep);
      throw err;
    }
    await this.deps.audit.record(input.trx, { type: 'identity.updated', identityId: identity.id, sessionId: input.session.id, flowId: input.flow.id, actor: 'self', ipAddress: input.request.ip, userAgent: input.request.userAgent, details: { via: 'settings', identifiers_changed: protectedChanged } });
    return { outcome: 'saved' };
  }
}
