/**
 * A bounded map whose entries hold only while a stamp is unchanged: `get(key, stamp)` answers an entry stored
 * under that same stamp and nothing else (session/session-service.ts keys session rows by token hash under the
 * storage's change stamp). Oldest entries go first when it is full; a stale entry is dropped when met.
 */
export class StampedCache<V> {
  private readonly entries = new Map<string, { stamp: string; value: V }>();

  constructor(private readonly maxEntries: number) {}

  get(key: string, stamp: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.stamp !== stamp) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, stamp: string, value: V): void {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { stamp, value });
  }

  get size(): number {
    return this.entries.size;
  }
}
