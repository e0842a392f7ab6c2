/**
 * `serve.public.cors.allowed_origins` as Kratos reads them: `*` (any origin), an exact origin, or an origin with one
 * `*` wildcard (`https://*.example.org`). Matching is done by @fastify/cors with the predicate built here.
 */

/** Why an allowed_origins entry is unusable, or null. */
export function corsOriginProblem(entry: string): string | null {
  if (entry === '*') return null;
  if ((entry.match(/\*/g) ?? []).length > 1) return `"${entry}" has more than one wildcard`;
  let parsed: URL;
  try {
    parsed = new URL(entry.replace('*', 'wildcard'));
  } catch {
    return `"${entry}" is not an origin (scheme://host[:port])`;
  }
  if (parsed.pathname !== '/' || parsed.search || parsed.hash || entry.endsWith('/')) return `"${entry}" is not an origin: no path, query or trailing slash`;
  return null;
}

/** A predicate over the request's Origin header for the configured entries (case-insensitive, like Kratos). */
export function corsOriginMatcher(entries: string[]): (origin: string) => boolean {
  if (entries.includes('*')) return () => true;
  const exact = new Set(entries.filter((e) => !e.includes('*')).map((e) => e.toLowerCase()));
  const wildcards = entries
    .filter((e) => e.includes('*'))
    .map((e) => {
      const [prefix, suffix] = e.toLowerCase().split('*') as [string, string];
      return { prefix, suffix };
    });
  return (origin: string) => {
    const o = origin.toLowerCase();
    if (exact.has(o)) return true;
    // The wildcard stands for at least one character and never for a "/" (so it stays inside the host).
    return wildcards.some(({ prefix, suffix }) => o.length > prefix.length + suffix.length && o.startsWith(prefix) && o.endsWith(suffix) && !o.slice(prefix.length, o.length - suffix.length).includes('/'));
  };
}
