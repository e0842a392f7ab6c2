import type { KairosConfig } from './config/schema.js';
import type { FlowKind } from './flows/flow.js';

/** Every URL Kairos hands out, built in one place from the configured base URLs. */
export class Urls {
  constructor(private readonly config: KairosConfig) {}

  public(path: string, query: Record<string, string | undefined> = {}): string {
    const url = new URL(path.replace(/^\//, ''), this.config.serve.public.base_url);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
    return url.toString();
  }

  flowAction(kind: FlowKind, flowId: string): string {
    return this.public(`/self-service/${kind}`, { flow: flowId });
  }

  flowUi(kind: FlowKind, flowId: string): string {
    const url = new URL(this.config.selfservice.flows[kind].ui_url);
    url.searchParams.set('flow', flowId);
    return url.toString();
  }

  errorUi(errorId: string): string {
    const url = new URL(this.config.selfservice.flows.error.ui_url);
    url.searchParams.set('id', errorId);
    return url.toString();
  }

  browserInit(kind: FlowKind, query: Record<string, string | undefined> = {}): string {
    return this.public(`/self-service/${kind}/browser`, query);
  }

  /**
   * Where a browser goes when a flow ends without `return_to`: Kratos's
   * `selfservice.flows.<flow>.after.<method>.default_browser_return_url`, else `….after.default_browser_return_url`,
   * else `selfservice.default_browser_return_url`. Relative values resolve against the latter.
   */
  defaultReturn(kind?: 'login' | 'registration' | 'settings' | 'verification', method?: string): string {
    const fallback = this.config.selfservice.default_browser_return_url;
    if (!kind) return fallback;
    const after = this.config.selfservice.flows[kind].after as Record<string, unknown> & { default_browser_return_url?: string };
    const perMethod = method ? (after[method] as { default_browser_return_url?: string } | undefined)?.default_browser_return_url : undefined;
    const configured = perMethod ?? after.default_browser_return_url;
    return configured ? new URL(configured, fallback).toString() : fallback;
  }

  /** The configured after-flow return URL, or null when none is set (settings then stays on its own UI). */
  configuredAfterReturn(kind: 'settings', method?: string): string | null {
    const after = this.config.selfservice.flows[kind].after as Record<string, unknown> & { default_browser_return_url?: string };
    const perMethod = method ? (after[method] as { default_browser_return_url?: string } | undefined)?.default_browser_return_url : undefined;
    const configured = perMethod ?? after.default_browser_return_url;
    return configured ? new URL(configured, this.config.selfservice.default_browser_return_url).toString() : null;
  }

  /**
   * `return_to` made absolute and checked, or null when it is not allowed. Like Kratos (x/redir SecureRedirectTo), a
   * relative value (`/sessions`) takes its scheme and host from `selfservice.default_browser_return_url`, and is
   * checked only after that, so `//evil.example/x` resolves to evil.example and is refused.
   */
  resolveReturnUrl(value: string): string | null {
    // A raw control character refuses it; the answer is re-serialised from the parsed URL, so nothing unencoded can
    // reach a Location header (issue 14, finding 5).
    if (/[\u0000-\u001f\u007f]/.test(value)) return null;
    let target: URL;
    try {
      target = new URL(value, this.config.selfservice.default_browser_return_url);
    } catch {
      return null;
    }
    return this.isAllowedReturnUrl(target.toString()) ? target.toString() : null;
  }

  /** `url` as Kairos will use it as a return_to, or null (relative values resolved as in `resolveReturnUrl`). */
  allowedReturnUrl(url: string): string | null {
    return this.resolveReturnUrl(url);
  }

  /**
   * Is the absolute `url` allowed as a return_to: same scheme, host (with port) and path prefix as the public base
   * URL, the default return URL, or an entry of `selfservice.allowed_return_urls`? Hosts may be wildcards
   * (`https://*.example.org`). Custom schemes of native apps (`exp://localhost:8081/--/Callback`,
   * `myapp://callback`) compare the same way: WHATWG URLs give them no origin, so scheme and host are compared, never
   * `origin`. Paths match on a segment boundary (`/app` allows `/app/x`, not `/apple`).
   */
  isAllowedReturnUrl(url: string): boolean {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return false;
    }
    if (target.username || target.password) return false;
    const allowed = [this.config.serve.public.base_url, this.config.selfservice.default_browser_return_url, ...this.config.selfservice.allowed_return_urls];
    return allowed.some((entry) => returnUrlMatches(target, entry));
  }
}

function returnUrlMatches(target: URL, entry: string): boolean {
  const wildcard = /^([a-z][a-z0-9+.-]*:\/\/)\*\.([^/]+)(.*)$/i.exec(entry);
  let base: URL;
  try {
    base = new URL(wildcard ? `${wildcard[1]}wildcard.${wildcard[2]}${wildcard[3]}` : entry);
  } catch {
    return false;
  }
  if (base.protocol !== target.protocol) return false;
  if (wildcard) {
    // https://*.example.org: any subdomain (at a label boundary), on the entry's port.
    const suffix = base.hostname.slice('wildcard'.length);
    if (!target.hostname.endsWith(suffix) || target.hostname.length <= suffix.length || target.port !== base.port) return false;
  } else if (base.host.toLowerCase() !== target.host.toLowerCase()) {
    return false;
  }
  const basePath = base.pathname === '' ? '/' : base.pathname;
  const targetPath = target.pathname === '' ? '/' : target.pathname;
  return basePath === '/' || targetPath === basePath || targetPath.startsWith(basePath.replace(/\/?$/, '/'));
}
