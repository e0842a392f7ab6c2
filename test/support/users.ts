/**
 * Users for integration tests, made through the public native flows with @ory/client-fetch: a password
 * registration (which returns a session) and a password login.
 */
import type { FrontendApi, SuccessfulNativeLogin } from '@ory/client-fetch';

type Server = { frontend: FrontendApi };

/** Registers `email` with the password method; the result, its session token and the identity id. */
export async function registerWithPassword(server: Server, email: string, password: string) {
  const flow = await server.frontend.createNativeRegistrationFlow();
  const result = await server.frontend.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: 'password', traits: { email }, password } });
  return { email, result, token: result.session_token!, identityId: result.identity.id };
}

/** A fresh native login flow completed with the password method. */
export async function loginWithPassword(server: Server, identifier: string, password: string): Promise<SuccessfulNativeLogin> {
  const flow = await server.frontend.createNativeLoginFlow();
  return server.frontend.updateLoginFlow({ flow: flow.id, updateLoginFlowBody: { method: 'password', identifier, password } });
}
