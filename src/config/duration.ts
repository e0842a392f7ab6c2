/** Go-style durations as Kratos writes them in config ("1h", "10m", "30s", "1h30m", "250ms") → milliseconds. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDurationMs(input: string | number): number {
  if (typeof input === 'number') return input;
  const text = input.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) throw new TypeError(`"${input}" is not a duration like 30s, 10m, 1h`);
  let total = 0;
  for (const [, amount, , unit] of text.matchAll(/(\d+(\.\d+)?)(ms|s|m|h)/g)) total += Number(amount) * UNIT_MS[unit!]!;
  return total;
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
