/**
 * Fills the flows' hook registry (flows/hooks.ts) from `selfservice.flows.<flow>.{before,after}` (validated by
 * config/hooks.ts, which refuses at load the hooks Kairos does not run). One web_hook executor (and one outgoing
 * HTTP client, with `clients.http.*`) serves every configured web_hook.
 *
 * Which lists run where, as Kratos builds them (driver/registry_default_{registration,settings,login}.go):
 * registration and settings take the hooks that run before the identity is stored (a web_hook with `can_interrupt`
 * or `response.parse`) from the method's list only (`PostRegistrationPrePersistHooks`, `PostSettingsPrePersistHooks`:
 * no fall-back to the flow-wide `after.hooks`), and the flow-wide list is used only for what runs after it was
 * stored, where such a web_hook does nothing (web_hook.go `ExecutePostRegistrationPostPersistHook` returns at once).
 * So a web_hook with `can_interrupt` or `response.parse` in `selfservice.flows.{registration,settings}.after.hooks`
 * never runs in Kratos; Kairos leaves it out too, and says so at startup with its key. Login, recovery and
 * verification run their flow-wide web hooks whatever their flags.
 */
import type { Deps } from '../deps.js';
import { parseDurationMs } from '../config/duration.js';
import type { HookConfig, HookFlow, HookList } from '../config/hooks.js';
import { hookSchemas } from '../config/hooks.js';
import type { HookExecutor, HookRegistry } from '../flows/hooks.js';
import { OutboundHttp } from './outbound-http.js';
import { DEFAULT_HEADER_ALLOWLIST, describeWebHook, runsBeforePersist, WebHookExecutor, type WebHookConfig } from './web-hook.js';
import { WebHookHook } from './web-hook-flow.js';
import { requireVerifiedAddressHook, revokeActiveSessionsHook, sessionHook, showVerificationUiHook } from './builtin.js';

/** Flows whose flow-wide after list Kratos uses only after the identity is stored. */
const SKIPS_FLOW_WIDE_PRE_PERSIST: ReadonlySet<HookFlow> = new Set(['registration', 'settings']);

export interface ConfiguredHooks {
  http: OutboundHttp;
  close(): Promise<void>;
}

export function configureHooks(registry: HookRegistry, deps: Deps): ConfiguredHooks {
  const clients = deps.config.clients;
  const http = new OutboundHttp({ disallowPrivateIpRanges: clients.http.disallow_private_ip_ranges, privateIpExceptionUrls: clients.http.private_ip_exception_urls });
  const webHooks = new WebHookExecutor({
    logger: deps.logger.child({ component: 'web_hook' }),
    headerAllowlist: clients.web_hook.header_allowlist ?? DEFAULT_HEADER_ALLOWLIST,
    http,
    timeoutMs: parseDurationMs(clients.web_hook.timeout),
  });
  const executorOf = (hook: HookConfig, key: string): HookExecutor => {
    switch (hook.hook) {
      case 'web_hook':
        return new WebHookHook(hook.config as unknown as WebHookConfig, webHooks, key);
      case 'session':
        return sessionHook(deps);
      case 'show_verification_ui':
        return showVerificationUiHook();
      case 'revoke_active_sessions':
        return revokeActiveSessionsHook(deps);
      case 'require_verified_address':
        return requireVerifiedAddressHook(deps, () => registry.startVerification);
      default:
        // config/hooks.ts refuses these at load; reaching here is a bug.
        throw new Error(`${key}: the ${hook.hook} hook has no executor`);
    }
  };
  const entries = (hooks: HookConfig[] | undefined, key: string) => (hooks ?? []).map((h, i) => ({ executor: executorOf(h, `${key}[${i}]`), key: `${key}[${i}]` }));
  // Kratos: "The session issuer hook always needs to come last."
  const ordered = (list: { executor: HookExecutor }[]) => [...list.filter((e) => e.executor.name !== 'session'), ...list.filter((e) => e.executor.name === 'session')].map((e) => e.executor);
  const list = (hooks: HookConfig[] | undefined, key: string): HookExecutor[] => ordered(entries(hooks, key));
  /** The flow-wide after list, without the web hooks Kratos never runs from it (see above). */
  const flowWide = (kind: HookFlow, hooks: HookConfig[], key: string): HookExecutor[] =>
    ordered(
      entries(hooks, key).filter(({ executor, key: at }) => {
        if (!SKIPS_FLOW_WIDE_PRE_PERSIST.has(kind) || !(executor instanceof WebHookHook) || !runsBeforePersist(executor.config)) return true;
        deps.logger.warn(
          { key: at, web_hook: describeWebHook(executor.config) },
          `${at}: this web_hook (can_interrupt or response.parse) does not run, as in Kratos: before the identity is stored Kratos runs only a method's list (selfservice.flows.${kind}.after.<method>.hooks), and after that such a web_hook does nothing. Move it to a method's list to run it.`,
        );
        return false;
      }),
    );
  const flows = deps.config.selfservice.flows as unknown as Record<HookFlow, { before?: HookList; after?: HookList & Record<string, unknown> }>;
  for (const kind of Object.keys(hookSchemas) as HookFlow[]) {
    const { before, after } = flows[kind] ?? {};
    if (before?.hooks) registry.configureBefore(kind, list(before.hooks, `selfservice.flows.${kind}.before.hooks`));
    if (!after) continue;
    if (after.hooks) registry.configure(kind, null, flowWide(kind, after.hooks, `selfservice.flows.${kind}.after.hooks`));
    for (const [method, value] of Object.entries(after)) {
      if (method === 'hooks' || method === 'default_browser_return_url' || typeof value !== 'object' || value === null) continue;
      const hooks = (value as HookList).hooks;
      if (hooks) registry.configure(kind, method, list(hooks, `selfservice.flows.${kind}.after.${method}.hooks`));
    }
  }
  return { http, close: () => http.close() };
}
