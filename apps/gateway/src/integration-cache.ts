import type { Keyring } from '@metrivo/crypto';
import { openSecretsWithExpiry, type IntegrationDoc, type IntegrationStore, type UnreadableSecret } from '@metrivo/integration-store';
import { isDatabaseUnavailable } from '@metrivo/observability';

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
  /** After a failed reload: until then, requests use the copy without trying MongoDB again. */
  retryAt?: number;
}

export interface IntegrationCacheOptions {
  /** Admin changes are visible after this (plus one reload). */
  ttlMs: number;
  /** How far past the TTL a copy may still answer while a reload runs or after it failed with MongoDB unavailable. */
  maxStaleMs: number;
  maxEntries?: number;
  /** A reload failed and the request was answered from the copy (`ageMs` old). */
  onStaleAnswer?: (id: string, err: unknown, ageMs: number) => void;
}

/**
 * Integrations and their decrypted secrets, cached for `ttlMs` so the accept path does not hit MongoDB
 * per webhook; admin changes (new secret, disable) are visible within ttlMs (plus one reload). Concurrent misses
 * for the same id share one query. Roll expiries are re-evaluated on every hit, not only on reload.
 *
 * Past the TTL, the request that finds the copy expired reloads it and waits (it sees admin's latest change). A copy
 * at most `maxStaleMs` past the TTL still answers, so that a slow or unreachable MongoDB (a failover, a busy server)
 * does not hold up or refuse the webhooks of integrations the gateway knows: the requests that arrive while the reload
 * runs, the one that waited when the reload fails, and, for one TTL after a failure, the ones after it (then the next
 * request tries MongoDB again). An unknown id or an older copy waits for MongoDB and fails with it (the route answers
 * 503): a just-created integration must be found by the webhook that waits for the reload. Only "MongoDB unavailable"
 * errors fall back to the copy; anything else is a bug and fails the request.
 *
 * The price: while MongoDB cannot be read, disabling an integration or removing a secret in admin cannot reach the
 * gateway either, so the old copy keeps answering until it is `ttlMs + maxStaleMs` old (counted when the webhook
 * arrives; its answer may come a driver timeout later).
 */
export class IntegrationCache {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxStaleMs: number;
  private readonly maxEntries: number;
  private readonly onStaleAnswer: NonNullable<IntegrationCacheOptions['onStaleAnswer']>;

  constructor(
    private readonly store: Pick<IntegrationStore, 'get'>,
    private readonly keyring: Keyring,
    options: IntegrationCacheOptions,
  ) {
    this.ttlMs = options.ttlMs;
    this.maxStaleMs = options.maxStaleMs;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.onStaleAnswer = options.onStaleAnswer ?? (() => undefined);
  }

  /** Entries held (integrations, and ids known not to exist), for metrics and tests. */
  get size(): number {
    return this.entries.size;
  }

  async get(id: string, now = new Date()): Promise<ResolvedIntegration | null> {
    const t = now.getTime();
    const hit = this.entries.get(id);
    const age = hit ? t - hit.loadedAt : Infinity;
    if (hit && age < this.ttlMs) {
      return hit.value ? resolve(hit.value, now) : null;
    }
    const copy = hit?.value && age < this.ttlMs + this.maxStaleMs ? hit.value : null;
    if (copy && (hit?.pending || (hit?.retryAt !== undefined && t < hit.retryAt))) return resolve(copy, now);
    try {
      return await (hit?.pending ?? this.reload(id, hit, t));
    } catch (err) {
      if (!copy || !isDatabaseUnavailable(err)) throw err;
      this.onStaleAnswer(id, err, age);
      return resolve(copy, now);
    }
  }

  /** One load per id at a time; the entry keeps its copy until the load succeeds. */
  private reload(id: string, hit: Entry | undefined, t: number): Promise<ResolvedIntegration | null> {
    const startedWall = Date.now();
    const pending = this.load(id, new Date(t));
    const placeholder: Entry = { value: hit?.value ?? null, loadedAt: hit?.loadedAt ?? 0, pending };
    this.put(id, placeholder);
    const failed = () => {
      if (this.entries.get(id) !== placeholder) return;
      // Nothing to fall back on (an id never found): keep no entry, so that junk ids cannot fill the map while
      // MongoDB is down.
      if (placeholder.value === null) return void this.entries.delete(id);
      delete placeholder.pending;
      // One TTL from the failure, not from the start of the reload: a driver that gave up after its server selection
      // timeout (longer than the TTL) must not be asked again by the very next webhook.
      placeholder.retryAt = t + (Date.now() - startedWall) + this.ttlMs;
    };
    pending.then(undefined, failed); // a success replaced the placeholder (load)
    return pending;
  }

  private async load(id: string, now: Date): Promise<ResolvedIntegration | null> {
    const doc = await this.store.get(id);
    const value = doc ? { doc, ...openSecretsWithExpiry(doc, this.keyring, now) } : null;
    this.put(id, { value, loadedAt: now.getTime() });
    return value ? resolve(value, now) : null;
  }

  /**
   * Sets the entry as the most recently loaded one (Map order = load order), evicting the least recently loaded entry
   * when a new id would exceed `maxEntries`: busy integrations reload every TTL and stay.
   */
  private put(id: string, entry: Entry): void {
    if (!this.entries.delete(id) && this.entries.size >= this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value as string);
    }
    this.entries.set(id, entry);
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
