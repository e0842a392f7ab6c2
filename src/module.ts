import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Deps } from './deps.js';
import type { FlowEngine } from './flows/engine.js';
import type { Strategies } from './flows/strategy.js';
import type { CredentialAdapter } from './identity/credential-adapters.js';
import type { FlowHandlers } from './http/public/self-service.js';
import type { FlowKind } from './flows/flow.js';
import type { MaintenanceTask } from './maintenance/job.js';

export interface ModuleContext {
  deps: Deps;
  engine: FlowEngine;
  /** Who is acting on the admin API (for the audit trail). */
  adminActorOf(request: FastifyRequest): string;
}

/**
 * A feature of Kairos (an authentication method, the courier, diagnostics…) as the registry sees it: strategies it
 * contributes to flows, credential adapters for the admin API, routes, and lifecycle. Adding a method touches its
 * folder plus one line in registry.ts.
 */
export interface KairosModule {
  readonly name: string;
  strategies?: Partial<{ [K in keyof Strategies]: Strategies[K] }>;
  adapters?: CredentialAdapter[];
  /** Credential types that count as a second factor (make aal2 the identity's highest available level). */
  secondFactorTypes?: string[];
  /** Flow kinds this module implements (recovery, verification). */
  flowHandlers?(context: ModuleContext): Partial<Record<FlowKind, FlowHandlers>>;
  publicRoutes?(app: FastifyInstance, context: ModuleContext): Promise<void> | void;
  adminRoutes?(app: FastifyInstance, context: ModuleContext): Promise<void> | void;
  /** Retention purges this module needs, run by the periodic maintenance job (maintenance/job.ts) on every instance. */
  maintenance?: MaintenanceTask[];
  /** Called once the engine exists (e.g. to add session extras or registration hooks). */
  init?(context: ModuleContext & { handlers: Partial<Record<FlowKind, FlowHandlers>> }): Promise<void> | void;
  start?(context: ModuleContext): Promise<void> | void;
  stop?(): Promise<void> | void;
  /**
   * This module's section of `GET /admin/identities/{id}/mfa` (e.g. `totp`, `recovery_codes`, `lockout`), or
   * null when it has nothing for this identity. Never a secret or code. Return the section under its name,
   * `{ recovery_codes: {...} }`: http/admin/mfa.ts merges every module's object into the response.
   */
  mfaReport?(identity: import('./identity/identity.js').Identity): Promise<Record<string, unknown> | null>;
  /**
   * Members this module adds to the `kairos` object of admin identity JSON (`GET /admin/identities…`), e.g. the MFA
   * rule in force; Kratos clients ignore the extra member. Never a secret.
   */
  identityExtras?(identity: import('./identity/identity.js').Identity): Record<string, unknown> | null;
  /** Readiness details for /health/ready (never fails readiness by itself unless it returns ok:false). */
  health?(): Promise<Record<string, unknown>> | Record<string, unknown>;
}
