/**
 * Fills the flows' hook registry (flows/hooks.ts) from `selfservice.flows.<flow>.{before,after}` (validated by
 * config/hooks.ts, which refuses at load the hooks Kairos does not run). One web_hook executor (and one outgoing
 * HTTP client, with `clients.http.*`) serves every configured web_hook.
 */
import type { Deps } from '../deps.js';
import { parseDurationMs } from '../config/duration.js';
import type { HookConfig, HookFlow, HookList } from '../config/hooks.js';
import { hookSchemas } from '../config/hooks.js';
import type { HookExecutor, HookRegistry } from '../flows/hooks.js';
import { OutboundHttp } from './outbound-http.js';
import { DEFAULT_HEADER_ALLOWLIST, WebHookExecutor, type WebHookConfig } from './web-hook.js';
import { WebHookHook } from './web-hook-flow.js';
import { requireVerifiedAddressHook, revokeActiveSessionsHook, sessionHook, showVerificationUiHook } from './builtin.js';

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
        return new WebHookHook(hook.config as unknown as WebHookConfig, webHooks);
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
  const list = (hooks: HookConfig[] | undefined, key: string): HookExecutor[] => {
    const executors = (hooks ?? []).map((h, i) => executorOf(h, `${key}[${i}]`));
    // Kratos: "The session issuer hook always needs to come last."
    return [...executors.filter((e) => e.name !== 'session'), ...executors.filter((e) => e.name === 'session')];
  };
  const flows = deps.config.selfservice.flows as unknown as Record<HookFlow, { before?: HookList; after?: HookList & Record<string, unknown> }>;
  for (const kind of Object.keys(hookSchemas) as HookFlow[]) {
    const { before, after } = flows[kind] ?? {};
    if (before?.hooks) registry.configureBefore(kind, list(before.hooks, `selfservice.flows.${kind}.before.hooks`));
    if (!after) continue;
    if (after.hooks) registry.configure(kind, null, list(after.hooks, `selfservice.flows.${kind}.after.hooks`));
    for (const [method, value] of Object.entries(after)) {
      if (method === 'hooks' || method === 'default_browser_return_url' || typeof value !== 'object' || value === null) continue;
      const hooks = (value as HookList).hooks;
      if (hooks) registry.configure(kind, method, list(hooks, `selfservice.flows.${kind}.after.${method}.hooks`));
    }
  }
  return { http, close: () => http.close() };
}
