/** A small time-bounded set (insertion-ordered Map): remembers recently accepted delivery ids. */
export class RecentSet {
  private readonly items = new Map<string, number>();
  constructor(private readonly ttlMs: number, private readonly max: number) {}

  has(key: string, now = Date.now()): boolean {
    const at = this.items.get(key);
    if (at === undefined) return false;
    if (now - at > this.ttlMs) {
      this.items.delete(key);
      return false;
    }
    return true;
  }

  add(key: string, now = Date.now()): void {
    this.items.delete(key);
    this.items.set(key, now);
    while (this.items.size > this.max) this.items.delete(this.items.keys().next().value as string);
  }
}
