/** The `web_hook` hook's config (Kratos's schema), as the loader checks it; hooks/web-hook.ts runs it. */

export interface WebHookConfig {
  id?: string;
  url: string;
  method: string;
  headers?: Record<string, string>;
  /** URI of the Jsonnet body template. */
  body?: string;
  auth?: { type: 'api_key'; config: { name: string; value: string; in?: 'header' | 'cookie' } } | { type: 'basic_auth'; config: { user: string; password: string } };
  response?: { ignore?: boolean; parse?: boolean };
  /** Deprecated in Kratos in favour of `response.parse`; same effect on error answers. */
  can_interrupt?: boolean;
  emit_analytics_event?: boolean;
}

/** Problems with a web_hook config (for the config loader); empty when it can run. Mirrors Kratos's schema. */
export function webHookConfigProblems(config: Partial<WebHookConfig>): string[] {
  const problems: string[] = [];
  if (typeof config.url !== 'string' || !/^https?:\/\//.test(config.url)) problems.push('url must be an http(s) URL');
  if (typeof config.method !== 'string' || config.method === '') problems.push('method is required');
  if (config.response?.ignore && (config.response.parse || config.can_interrupt)) {
    problems.push('response.ignore cannot be combined with response.parse or can_interrupt (Kratos: "A webhook is configured to ignore the response but also to parse the response")');
  }
  const auth = config.auth as { type?: string; config?: Record<string, unknown> } | undefined;
  if (auth) {
    if (auth.type === 'api_key') {
      if (typeof auth.config?.name !== 'string' || typeof auth.config?.value !== 'string') problems.push('auth.config of api_key needs string name and value');
      if (auth.config?.in !== undefined && auth.config.in !== 'header' && auth.config.in !== 'cookie') problems.push('auth.config.in must be header or cookie');
    } else if (auth.type === 'basic_auth') {
      if (typeof auth.config?.user !== 'string' || typeof auth.config?.password !== 'string') problems.push('auth.config of basic_auth needs string user and password');
    } else {
      problems.push(`unsupported auth type: ${String(auth.type)}`);
    }
  }
  return problems;
}
