/**
 * A stand-in for Ory's reference self-service UI (kratos-selfservice-ui-node): it fetches a flow with the browser's
 * cookies, renders it with @ory/elements-markup (UserAuthCard / UserSettingsCard, as the reference UI does), and
 * submits only what the rendered HTML contains — hidden inputs as rendered, visible inputs the person fills in, and
 * the button the person clicks. A node the renderer does not draw cannot be submitted, so a flow state whose next
 * step is not drawn fails here exactly as it would for a person.
 */
import { Parser } from 'htmlparser2';
import { UserAuthCard, UserSettingsCard } from '@ory/elements-markup';
import { expect } from 'vitest';
import type { BrowserClient } from '../../support/browser-client.js';

export type AuthFlowKind = 'login' | 'registration' | 'recovery' | 'verification';
export type SettingsMethod = 'profile' | 'password' | 'totp' | 'lookup_secret';

export interface RenderedForm {
  action: string;
  method: string;
  hidden: Record<string, string>;
  /** Names of inputs a person can fill in (text, email, password, checkbox…). */
  inputs: Set<string>;
  buttons: { name: string; value: string }[];
}

/** Every <form> in the HTML, with its inputs and buttons. */
export function formsOf(html: string): RenderedForm[] {
  const forms: RenderedForm[] = [];
  let current: RenderedForm | null = null;
  const parser = new Parser({
    onopentag(tag, attrs) {
      if (tag === 'form') {
        current = { action: attrs.action ?? '', method: (attrs.method ?? 'get').toLowerCase(), hidden: {}, inputs: new Set(), buttons: [] };
        forms.push(current);
        return;
      }
      if (!current || !attrs.name) return;
      if (tag === 'input' && attrs.type === 'hidden') current.hidden[attrs.name] = attrs.value ?? '';
      else if (tag === 'input' && attrs.type === 'submit') current.buttons.push({ name: attrs.name, value: attrs.value ?? '' });
      else if (tag === 'input') current.inputs.add(attrs.name);
      else if (tag === 'button') current.buttons.push({ name: attrs.name, value: attrs.value ?? '' });
    },
    onclosetag(tag) {
      if (tag === 'form') current = null;
    },
  });
  parser.write(html);
  parser.end();
  return forms;
}

export function renderAuthFlow(kind: AuthFlowKind, flow: any): string {
  return UserAuthCard({ flow, flowType: kind, additionalProps: {} } as any);
}

export function renderSettings(flow: any, method: SettingsMethod): string {
  return UserSettingsCard({ flow, method } as any);
}

/** The rendered form holding the button `name=value` (fails the test when the renderer drew no such button). */
export function formWithButton(html: string, button: { name: string; value?: string }): RenderedForm {
  const form = formsOf(html).find((f) => f.buttons.some((b) => b.name === button.name && (button.value === undefined || b.value === button.value)));
  expect(form, `the rendered UI has no button ${button.name}=${button.value ?? '*'}:\n${html.slice(0, 4000)}`).toBeTruthy();
  return form!;
}

/**
 * Submits what a person sees: the form with the given button, its hidden inputs, the filled-in inputs (each must be
 * rendered in that form) — posted with the browser's cookies. Answers the raw response (browsers get 303s).
 */
export async function submitRendered(
  browser: BrowserClient,
  html: string,
  button: { name: string; value?: string },
  fill: Record<string, string> = {},
): Promise<Response> {
  const form = formWithButton(html, button);
  for (const name of Object.keys(fill)) expect([...form.inputs], `input ${name} is not rendered`).toContain(name);
  const clicked = form.buttons.find((b) => b.name === button.name && (button.value === undefined || b.value === button.value))!;
  expect(form.method).toBe('post');
  return browser.postForm(form.action, { ...form.hidden, ...fill, [clicked.name]: clicked.value });
}

/** Follows a browser redirect to a UI URL the way the reference UI does: read `?flow=`, fetch the flow with cookies. */
export async function flowBehind(browser: BrowserClient, kind: string, location: string): Promise<any> {
  const id = new URL(location).searchParams.get('flow');
  expect(id, `no flow id in ${location}`).toBeTruthy();
  const answer = await browser.get(`/self-service/${kind}/flows?id=${id}`, { accept: 'application/json' });
  expect(answer.status).toBe(200);
  return answer.json();
}

/** Starts a browser flow (303 to the UI) and fetches it as the reference UI does. */
export async function startBrowserFlow(browser: BrowserClient, kind: string, query = ''): Promise<{ flow: any; location: string }> {
  const init = await browser.get(`/self-service/${kind}/browser${query}`, { accept: 'text/html' });
  expect(init.status, await init.clone().text()).toBe(303);
  const location = init.headers.get('location')!;
  return { flow: await flowBehind(browser, kind, location), location };
}
