import type { Keyring } from '@metrivo/crypto';
import { openSecretsWithExpiry, type IntegrationDoc, type IntegrationStore, type UnreadableSecret } from '@metrivo/integration-store';

export interface ResolvedIntegration {
  doc: IntegrationDoc;
  /** Decrypted secrets that verify now (current first, then ones kept during a roll). */
  secrets: string[];
  /**
   * Secrets that would verify now but cannot be opened (their key left METRIVO_SECRET_KEYS too early). They are
   * skipped so the others still verify; the route tells a bad signature from one it could not check.
   */
  unreadable: Array<Pick<UnreadableSecret, 'keyId' | 'reason'>>;
}

interface Loaded {
  doc: IntegrationDoc;
  /** Decrypted once per load: decrypting on every webhook was measurable on the accept path. */
  secrets: Array<{ secret: string; expiresAt: Date | null }>;
  unreadable: UnreadableSecret[];
}

interface Entry {
  value: Loaded | null;
  loadedAt: number;
  pending?: Promise<ResolvedIntegration | null>;
}

/**
 * Integrations and their decrypted secrets, cached for `ttlMs` so the accept path does not hit MongoDB
 * per webhook; admin changes (new secret, disable) are visible within ttlMs (plus one reload). Concurrent misses
 * for the same id share one query. Roll expiries are re-evaluated on every hit, not only on reload.
 *
 * Past the TTL, the request that finds the copy expired reloads it and waits (it sees admin's latest change). Other
 * requests for that integration arriving while the reload runs are answered from the copy, for at most
 * `maxStaleMs` past the TTL: a slow MongoDB (a failover, a busy server) then holds up one webhook per TTL instead
 * of every webhook of that integration until it answers. An unknown id is never served stale: a just-created
 * integration must be found by the webhook that waits for the reload.
 */
export class IntegrationCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly store: Pick<IntegrationStore, 'get'>,
    private readonly keyring: Keyring,
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly maxStaleMs = 60_000,
  ) {}

  async get(id: string, now = new Date()): Promise<ResolvedIntegration | null> {
    const hit = this.entries.get(id);
    const age = hit ? now.getTime() - hit.loadedAt : Infinity;
    if (hit && age < this.ttlMs) {
      return hit.value ? resolve(hit.value, now) : null;
    }
    if (hit?.pending) {
      return hit.value && age < this.ttlMs + this.maxStaleMs ? resolve(hit.value, now) : hit.pending;
    }
    const pending = this.load(id, now);
    this.entries.set(id, { value: hit?.value ?? null, loadedAt: hit?.loadedAt ?? 0, pending });
    try {
      return await pending;
    } finally {
      const e = this.entries.get(id);
      if (e?.pending === pending) delete e.pending;
    }
  }

  private async load(id: string, now: Date): Promise<ResolvedIntegration | null> {
    const doc = await this.store.get(id);
    const value = doc ? { doc, ...openSecretsWithExpiry(doc, this.keyring, now) } : null;
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(id, { value, loadedAt: now.getTime() });
    return value ? resolve(value, now) : null;
  }
}

function resolve(loaded: Loaded, now: Date): ResolvedIntegration {
  const t = now.getTime();
  const live = (s: { expiresAt: Date | null }) => s.expiresAt === null || s.expiresAt.getTime() > t;
  return {
    doc: loaded.doc,
    secrets: loaded.secrets.filter(live).map((s) => s.secret),
    // Nearly always empty: no copy on the accept path then.
    unreadable: loaded.unreadable.length === 0 ? loaded.unreadable : loaded.unreadable.filter(live),
  };
}
