/** Remembers keys for `ttlMs`, and at most `maxEntries` of them (oldest forgotten first). */
export class MemoryDedupe {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 5_000_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Claims keys in order; true where the key was not claimed within the retention window. */
  claim(keys: readonly string[]): boolean[] {
    const now = this.now();
    this.evict(now);
    return keys.map((key) => {
      const expiresAt = this.seen.get(key);
      if (expiresAt !== undefined && expiresAt > now) return false;
      this.seen.delete(key);
      this.seen.set(key, now + this.ttlMs);
      return true;
    });
  }

  private evict(now: number): void {
    // Insertion order equals expiry order (fixed TTL), so expired keys sit at the front.
    for (const [key, expiresAt] of this.seen) {
      if (expiresAt > now && this.seen.size <= this.maxEntries) break;
      this.seen.delete(key);
    }
  }
}
