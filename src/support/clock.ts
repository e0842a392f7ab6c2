/**
 * The clock is injected everywhere time matters (TOTP steps, expiries, lockouts), so tests move time instead of
 * sleeping. Times are Unix milliseconds unless a name says otherwise.
 */
export interface Clock {
  nowMs(): number;
  /**
   * True for this machine's wall clock, which can disagree with other instances' clocks. Limits that instances
   * share (second-factor lockout delays) are then measured with the database's clock, the one clock every instance
   * sees. An injected clock (tests) leaves it unset and is used as it is.
   */
  readonly wall?: boolean;
}

export const systemClock: Clock = { nowMs: () => Date.now(), wall: true };

/** A clock tests can set and advance. */
export class ManualClock implements Clock {
  constructor(private currentMs: number = Date.UTC(2026, 10, 22, 12, 0, 0)) {}
  nowMs(): number {
    return this.currentMs;
  }
  set(ms: number): void {
    this.currentMs = ms;
  }
  advanceMs(deltaMs: number): void {
    this.currentMs += deltaMs;
  }
  advanceSeconds(deltaSeconds: number): void {
    this.currentMs += deltaSeconds * 1000;
  }
}

/**
 * RFC 3339 UTC text of a Unix-ms time, as every JSON answer writes times. `Date#toISOString` costs about half a
 * microsecond and a whoami answer holds a dozen times (session, methods, identity, addresses) that repeat from one
 * answer to the next, so recent texts are remembered (about a tenth of whoami's CPU in the bench profile).
 */
export function toIso(ms: number): string {
  let text = isoTexts.get(ms);
  if (text === undefined) {
    text = new Date(ms).toISOString();
    if (isoTexts.size >= ISO_TEXTS_KEPT) isoTexts.clear();
    isoTexts.set(ms, text);
  }
  return text;
}
const isoTexts = new Map<number, string>();
/** A Map of this many short strings is well under a MiB. */
const ISO_TEXTS_KEPT = 10_000;
