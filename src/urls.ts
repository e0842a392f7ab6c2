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

  defaultReturn(): string {
    return this.config.selfservice.default_browser_return_url;
  }

  /**
   * `url` as Kairos will use it as a return_to, or null when it is not allowed: re-serialised from the parsed URL,
   * never the raw string, so no control character or unencoded byte can reach a `Location` header (the parser drops
   * TAB and newlines the raw string would have kept; issue 14, finding 5). A raw control character refuses it.
   */
  allowedReturnUrl(url: string): string | null {
    if (/[\u0000-\u001f\u007f]/.test(url) || !this.isAllowedReturnUrl(url)) return null;
    return new URL(url).toString();
  }

  /** Is `url` allowed as a return_to (same origin as the public base URL or the default return URL, or listed)? */
  isAllowedReturnUrl(url: string): boolean {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return false;
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') return false;
    const allowed = [this.config.serve.public.base_url, this.config.selfservice.default_browser_return_url, ...this.config.selfservice.allowed_return_urls];
    return allowed.some((entry) => {
      let base: URL;
      try {
        base = new URL(entry);
      } catch {
        return false;
      }
      if (base.origin !== target.origin) {
        // Kratos allows wildcard subdomains: https://*.example.org
        const wildcard = /^(https?):\/\/\*\.(.+)$/.exec(entry.replace(/\/$/, ''));
        if (!wildcard || wildcard[1] + ':' !== target.protocol || !target.hostname.endsWith('.' + wildcard[2]!.split('/')[0])) return false;
        return true;
      }
      return target.pathname.startsWith(base.pathname.replace(/\/?$/, '/')) || target.pathname === base.pathname || base.pathname === '/';
    });
  }
}
