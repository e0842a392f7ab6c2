/**
 * Kratos's UI node model (`ui/node/node.go`, `ui/node/attributes.go`): the form a flow asks any front end to render.
 * Strategies build nodes with these helpers; the hosted UI and Kratos UIs render them generically.
 */
import type { UiText } from './messages.js';

export type NodeGroup =
  | 'default'
  | 'password'
  | 'oidc'
  | 'profile'
  | 'link'
  | 'code'
  | 'totp'
  | 'lookup_secret'
  | 'webauthn'
  | 'passkey'
  | 'identifier_first'
  | 'captcha'
  /** Kairos: secondary recovery addresses in settings (credentials/code/recovery-address-settings.ts). */
  | 'recovery_address'
  /** Kairos: browsers remembered after a second factor (credentials/remembered-device/strategy.ts). */
  | 'remembered_device';

export type InputType =
  | 'text'
  | 'password'
  | 'number'
  | 'checkbox'
  | 'hidden'
  | 'email'
  | 'tel'
  | 'submit'
  | 'button'
  | 'datetime-local'
  | 'date'
  | 'url';

export interface InputAttributes {
  node_type: 'input';
  name: string;
  type: InputType;
  value?: unknown;
  required?: boolean;
  disabled: boolean;
  autocomplete?: string;
  pattern?: string;
  maxlength?: number;
  /** Not in Kratos's model; a hint for mobile keyboards that Kratos UIs ignore. */
  inputmode?: 'numeric' | 'text';
  /** Kratos (deprecated there, still sent): JavaScript to run on click, e.g. `window.oryWebAuthnLogin({...})`. */
  onclick?: string;
  /** Kratos: the name of the function in webauthn.js a UI calls on click (`oryWebAuthnRegistration`, …). */
  onclickTrigger?: string;
}

/** Kratos's script node (`ui/node/attributes.go ScriptAttributes`), e.g. the WebAuthn script. */
export interface ScriptAttributes {
  node_type: 'script';
  id: string;
  src: string;
  async: boolean;
  referrerpolicy: string;
  crossorigin: string;
  integrity: string;
  type: string;
  nonce: string;
}

export interface TextAttributes {
  node_type: 'text';
  id: string;
  text: UiText;
}

export interface ImageAttributes {
  node_type: 'img';
  id: string;
  src: string;
  width: number;
  height: number;
}

export interface AnchorAttributes {
  node_type: 'a';
  id: string;
  href: string;
  title: UiText;
}

export type NodeAttributes = InputAttributes | TextAttributes | ImageAttributes | AnchorAttributes | ScriptAttributes;

export interface UiNode {
  type: 'input' | 'text' | 'img' | 'a' | 'script' | 'div';
  group: NodeGroup;
  attributes: NodeAttributes;
  messages: UiText[];
  meta: { label?: UiText };
}

export interface UiContainer {
  action: string;
  method: 'POST' | 'GET';
  nodes: UiNode[];
  messages?: UiText[];
}

export function inputNode(
  group: NodeGroup,
  name: string,
  type: InputType,
  options: {
    value?: unknown;
    required?: boolean;
    label?: UiText;
    autocomplete?: string;
    pattern?: string;
    maxlength?: number;
    inputmode?: 'numeric' | 'text';
    disabled?: boolean;
    onclick?: string;
    onclickTrigger?: string;
  } = {},
): UiNode {
  const attributes: InputAttributes = { name, type, disabled: options.disabled ?? false, node_type: 'input' };
  if (options.value !== undefined) attributes.value = options.value;
  if (options.required) attributes.required = true;
  if (options.autocomplete) attributes.autocomplete = options.autocomplete;
  if (options.pattern) attributes.pattern = options.pattern;
  if (options.maxlength) attributes.maxlength = options.maxlength;
  if (options.inputmode) attributes.inputmode = options.inputmode;
  if (options.onclick) attributes.onclick = options.onclick;
  if (options.onclickTrigger) attributes.onclickTrigger = options.onclickTrigger;
  return { type: 'input', group, attributes, messages: [], meta: options.label ? { label: options.label } : {} };
}

export function textNode(group: NodeGroup, id: string, text: UiText, label?: UiText): UiNode {
  return { type: 'text', group, attributes: { id, text, node_type: 'text' }, messages: [], meta: label ? { label } : {} };
}

export function imageNode(group: NodeGroup, id: string, src: string, size: number, label?: UiText): UiNode {
  return {
    type: 'img',
    group,
    attributes: { id, src, width: size, height: size, node_type: 'img' },
    messages: [],
    meta: label ? { label } : {},
  };
}

export function anchorNode(group: NodeGroup, id: string, href: string, title: UiText): UiNode {
  return { type: 'a', group, attributes: { id, href, title, node_type: 'a' }, messages: [], meta: { label: title } };
}

export function scriptNode(group: NodeGroup, id: string, src: string, integrity: string, nonce = ''): UiNode {
  return {
    type: 'script',
    group,
    attributes: { id, src, async: true, referrerpolicy: 'no-referrer', crossorigin: 'anonymous', integrity, type: 'text/javascript', nonce, node_type: 'script' },
    messages: [],
    meta: {},
  };
}

/** The name a node answers to in a submission or a message pointer (`#/totp_code`). */
export function nodeName(node: UiNode): string {
  const a = node.attributes;
  return a.node_type === 'input' ? a.name : a.id;
}

export function findNode(nodes: UiNode[], name: string): UiNode | undefined {
  return nodes.find((n) => nodeName(n) === name);
}
