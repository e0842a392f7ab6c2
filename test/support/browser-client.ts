/**
 * A minimal "browser" for the browser flows: keeps cookies, does not follow redirects, posts forms. Tests see each
 * 303 and Set-Cookie exactly as a browser would get them.
 */
export class BrowserClient {
  readonly cookies = new Map<string, string>();

  constructor(readonly baseUrl: string) {}

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private remember(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(';');
      const [name, ...rest] = pair!.split('=');
      const value = rest.join('=');
      const expired = attributes.some((a) => /max-age=0/i.test(a) || /expires=Thu, 01 Jan 1970/i.test(a));
      if (expired || value === '') this.cookies.delete(name!.trim());
      else this.cookies.set(name!.trim(), value);
    }
  }

  async request(path: string, init: RequestInit & { json?: unknown; form?: Record<string, string> } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', this.cookieHeader());
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('content-type', 'application/json');
      headers.set('accept', 'application/json');
      body = JSON.stringify(init.json);
    } else if (init.form) {
      headers.set('content-type', 'application/x-www-form-urlencoded');
      body = new URLSearchParams(init.form).toString();
    }
    const url = path.startsWith('http') ? path : this.baseUrl + path;
    const response = await fetch(url, { ...init, headers, body, redirect: 'manual' });
    this.remember(response);
    return response;
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.request(path, { method: 'GET', headers });
  }

  postForm(path: string, form: Record<string, string>): Promise<Response> {
    return this.request(path, { method: 'POST', form, headers: { accept: 'text/html' } });
  }

  /** Starts a browser flow and returns its JSON (via the UI redirect's flow id). */
  async startFlow(kind: string, query = ''): Promise<{ id: string; flow: Record<string, any>; redirect: string }> {
    const init = await this.get(`/self-service/${kind}/browser${query}`, { accept: 'text/html' });
    const location = init.headers.get('location') ?? '';
    const id = new URL(location).searchParams.get('flow') ?? '';
    const flow = await (await this.get(`/self-service/${kind}/flows?id=${id}`, { accept: 'application/json' })).json();
    return { id, flow, redirect: location };
  }
}

export function csrfTokenOf(flow: Record<string, any>): string {
  const node = flow.ui.nodes.find((n: any) => n.attributes.name === 'csrf_token');
  return node?.attributes.value ?? '';
}
