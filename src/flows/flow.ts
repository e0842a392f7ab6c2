/**
 * What every self-service flow shares (Kratos `selfservice/flow/*`): identity of the flow, its type (browser or
 * api), expiry, state, the UI it asks a front end to render, and a server-only internal context.
 */
import type { UiContainer, UiNode } from '../ui/nodes.js';
import type { UiText } from '../ui/messages.js';

export type FlowKind = 'login' | 'registration' | 'settings' | 'recovery' | 'verification';
export const FLOW_KINDS: FlowKind[] = ['login', 'registration', 'settings', 'recovery', 'verification'];
export type FlowType = 'api' | 'browser';

export interface Flow {
  id: string;
  kind: FlowKind;
  type: FlowType;
  state: string;
  identityId: string | null;
  sessionId: string | null;
  requestUrl: string;
  returnTo: string | null;
  requestedAal: 'aal1' | 'aal2' | null;
  refresh: boolean;
  active: string | null;
  ui: UiContainer;
  internal: Record<string, unknown>;
  issuedAtMs: number;
  expiresAtMs: number;
  createdAtMs: number;
  updatedAtMs: number;
  /** Wrong second-factor submissions charged to this flow (the guard's per-flow budget); read with the flow. */
  failedAttempts: number;
}

export const INITIAL_STATE: Record<FlowKind, string> = {
  login: 'choose_method',
  registration: 'choose_method',
  settings: 'show_form',
  recovery: 'choose_method',
  verification: 'choose_method',
};

/** A submission that a strategy rejected: messages for fields (node names) or the whole form (field null). */
export class FlowValidationError extends Error {
  constructor(
    readonly problems: { field: string | null; message: UiText }[],
    /** Submitted values to keep in the re-rendered form (never secrets). */
    readonly keepValues: Record<string, unknown> = {},
  ) {
    super('flow validation failed');
  }

  static global(message: UiText): FlowValidationError {
    return new FlowValidationError([{ field: null, message }]);
  }

  static field(field: string, message: UiText): FlowValidationError {
    return new FlowValidationError([{ field, message }]);
  }
}

/** Applies validation problems to nodes (cleared first) and the flow's messages, keeping submitted values. */
export function applyProblems(ui: UiContainer, error: FlowValidationError): void {
  ui.messages = [];
  for (const node of ui.nodes) {
    node.messages = [];
    if (node.attributes.node_type === 'input') {
      const value = error.keepValues[node.attributes.name];
      if (value !== undefined && node.attributes.type !== 'password' && node.attributes.type !== 'submit' && node.attributes.type !== 'hidden')
        node.attributes.value = value;
    }
  }
  for (const { field, message } of error.problems) {
    const node = field ? ui.nodes.find((n) => n.attributes.node_type === 'input' && n.attributes.name === field) : undefined;
    if (node) node.messages.push(message);
    else ui.messages.push(message);
  }
  if (ui.messages.length === 0) delete ui.messages;
}

export function findInputNode(nodes: UiNode[], name: string): UiNode | undefined {
  return nodes.find((n) => n.attributes.node_type === 'input' && n.attributes.name === name);
}
