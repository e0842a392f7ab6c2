/**
 * Reading Kratos-shaped flows and errors in integration tests: the HTTP error body of a failed
 * @ory/client-fetch call, the message ids and global messages of a flow, the TOTP secret node of a settings flow.
 */
import { ResponseError, type SettingsFlow } from '@ory/client-fetch';

/** The status and JSON body of a call expected to fail with an HTTP error (throws if it succeeds). */
export async function errorBody(promise: Promise<unknown>): Promise<{ status: number; body: any }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ResponseError) return { status: err.response.status, body: await err.response.json() };
    throw err;
  }
  throw new Error('expected the call to fail');
}

/** The flow's global messages (`ui.messages`). */
export const globalMessages = (flow: any): any[] => (flow.ui.messages ?? []) as any[];

/** Every message id of the flow: global messages first, then each node's. */
export const messageIds = (flow: any): number[] => [
  ...globalMessages(flow).map((m) => m.id),
  ...flow.ui.nodes.flatMap((n: any) => n.messages.map((m: any) => m.id)),
];

/** The secret as a person would type it from the `totp_secret_key` node (as Kratos's own e2e reads it). */
export function secretOf(flow: SettingsFlow): string {
  const node = flow.ui.nodes.find((n: any) => n.attributes.id === 'totp_secret_key') as any;
  if (!node) throw new Error('no totp_secret_key node');
  return node.attributes.text.context.secret as string;
}
