import type { PaymentState } from '@metrivo/contracts';
import type { Keyring } from '@metrivo/crypto';
import {
  liveSecrets,
  secretsWithMissingKey,
  shownLast4,
  type ApiKeyDoc,
  type ApiKeyStore,
  type DeliveryDoc,
  type DeliveryLog,
  type IntegrationDoc,
  type IntegrationProvider,
  type IntegrationStore,
} from '@metrivo/integration-store';
import { LAST4_CHECKED, type Actor, type AuditLog } from './audit';
import { LedgerUnavailableError, type LedgerClient } from './ledger-client';
import { REQUIRED_EVENTS, webhookUrlFor } from './providers';
import { computeSetupHealth, type SetupHealth } from './setup-health';

/**
 * The operations support performs, shared by the JSON API and the HTML UI so both write the same
 * documents and the same audit entries. Every change is audited after it succeeded; details never
 * contain a secret or a key (only last4 / prefix).
 */

export interface RequestContext {
  actor: Actor;
  ip: string | null;
}

export interface IntegrationView {
  id: string;
  websiteId: string;
  provider: IntegrationProvider;
  /** Test or live endpoint (documents written before the field existed are live). */
  livemode: boolean;
  status: IntegrationDoc['status'];
  webhookUrl: string | null;
  events: readonly string[];
  /** last4: null when no secret is set, or when it is too short to show any of it (fewer than 24 characters). */
  secret: { set: boolean; last4: string | null; previous: Array<{ last4: string | null; validUntil: string }> };
  createdAt: string;
  updatedAt: string;
}

export interface DeliveryView {
  id: string;
  receivedAt: string;
  providerEventId: string | null;
  eventType: string | null;
  livemode: boolean | null;
  outcome: DeliveryDoc['outcome'];
  httpStatus: number;
  errorCode: string | null;
  hadMetrivoSignals: boolean | null;
  durationMs: number;
  /** The gateway request's trace id (what to search the logs for); null on records written before it was kept. */
  traceId: string | null;
}

export interface ApiKeyView {
  id: string;
  websiteId: string;
  prefix: string;
  livemode: boolean;
  createdAt: string;
  revokedAt: string | null;
}

/** How far back setup health looks (the gateway keeps the delivery log 30 days by default). */
export const HEALTH_WINDOW_DAYS = 30;
const LEDGER_SAMPLE = 20;

export interface AdminServiceDeps {
  integrations: IntegrationStore;
  apiKeys: ApiKeyStore;
  deliveries: DeliveryLog;
  audit: AuditLog;
  ledger: LedgerClient;
  keyring: Keyring;
  publicGatewayUrl: string;
  now?: () => Date;
  onLedgerError?: (err: unknown) => void;
}

export class AdminService {
  constructor(private readonly deps: AdminServiceDeps) {}

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  integrationView(doc: IntegrationDoc): IntegrationView {
    const live = liveSecrets(doc, this.now());
    const current = live.find((s) => s.expiresAt === null) ?? null;
    return {
      id: doc._id,
      websiteId: doc.websiteId,
      provider: doc.provider,
      livemode: doc.livemode ?? true,
      status: doc.status,
      webhookUrl: webhookUrlFor(this.deps.publicGatewayUrl, doc.provider, doc._id),
      events: REQUIRED_EVENTS[doc.provider],
      secret: {
        set: current !== null,
        last4: current ? shownLast4(current) : null,
        previous: live.filter((s) => s.expiresAt !== null).map((s) => ({ last4: shownLast4(s), validUntil: s.expiresAt!.toISOString() })),
      },
      createdAt: doc.createdAt.toISOString(),
      updatedAt: doc.updatedAt.toISOString(),
    };
  }

  async createIntegration(ctx: RequestContext, input: { websiteId: string; provider: IntegrationProvider; livemode?: boolean | undefined }): Promise<IntegrationView> {
    const doc = await this.deps.integrations.create(input.websiteId, input.provider, this.now(), input.livemode ?? true);
    await this.deps.audit.record({
      actor: ctx.actor, ip: ctx.ip, action: 'integration.create', target: { type: 'integration', id: doc._id },
      websiteId: doc.websiteId, details: { provider: doc.provider, livemode: doc.livemode ?? true },
    });
    return this.integrationView(doc);
  }

  getIntegration(id: string): Promise<IntegrationDoc | null> {
    return this.deps.integrations.get(id);
  }

  async listIntegrations(websiteId?: string): Promise<IntegrationView[]> {
    const docs = websiteId ? await this.deps.integrations.listForWebsite(websiteId) : await this.deps.integrations.list(500);
    return docs.map((d) => this.integrationView(d));
  }

  /** Null when the integration does not exist. The secret goes straight to the store, which seals it. */
  async setSecret(ctx: RequestContext, doc: IntegrationDoc, secret: string, keepPreviousForHours: number): Promise<IntegrationView | null> {
    const hadSecret = liveSecrets(doc, this.now()).length > 0;
    const updated = await this.deps.integrations.setSecret(doc._id, secret, this.deps.keyring, keepPreviousForHours, this.now());
    if (!updated) return null;
    const view = this.integrationView(updated);
    await this.deps.audit.record({
      actor: ctx.actor, ip: ctx.ip, action: 'integration.secret.set', target: { type: 'integration', id: doc._id }, websiteId: doc.websiteId,
      details: { provider: doc.provider, roll: hadSecret, keepPreviousForHours, last4: view.secret.last4, [LAST4_CHECKED]: true },
    });
    return view;
  }

  async setStatus(ctx: RequestContext, doc: IntegrationDoc, status: IntegrationDoc['status']): Promise<IntegrationView | null> {
    const ok = await this.deps.integrations.setStatus(doc._id, status, this.now());
    if (!ok) return null;
    await this.deps.audit.record({
      actor: ctx.actor, ip: ctx.ip, action: status === 'active' ? 'integration.enable' : 'integration.disable',
      target: { type: 'integration', id: doc._id }, websiteId: doc.websiteId, details: { provider: doc.provider, previousStatus: doc.status },
    });
    const updated = await this.deps.integrations.get(doc._id);
    return updated ? this.integrationView(updated) : null;
  }

  /** Deliveries of an integration, newest first. Manual API calls are logged per API key, so a manual integration shows its website's. */
  async recentDeliveries(doc: IntegrationDoc, limit: number): Promise<DeliveryView[]> {
    const docs = doc.provider === 'manual'
      ? await this.deps.deliveries.collection.find({ websiteId: doc.websiteId, provider: 'manual' }).sort({ receivedAt: -1 }).limit(limit).toArray()
      : await this.deps.deliveries.recent(doc._id, limit);
    return docs.map(deliveryView);
  }

  async setupHealth(doc: IntegrationDoc): Promise<SetupHealth> {
    const now = this.now();
    const windowFrom = new Date(now.getTime() - HEALTH_WINDOW_DAYS * 86_400_000);
    const [deliveries, ledgerPayments, keys] = await Promise.all([
      doc.provider === 'manual'
        ? this.deps.deliveries.collection.find({ websiteId: doc.websiteId, provider: 'manual', receivedAt: { $gte: windowFrom } }).sort({ receivedAt: -1 }).limit(5000).toArray()
        : this.deps.deliveries.since(doc._id, windowFrom),
      this.ledgerSample(doc.websiteId),
      doc.provider === 'manual' ? this.deps.apiKeys.listForWebsite(doc.websiteId) : Promise.resolve([]),
    ]);
    return computeSetupHealth({
      provider: doc.provider,
      status: doc.status,
      secretSet: liveSecrets(doc, now).some((s) => s.expiresAt === null),
      secretsWithMissingKey: secretsWithMissingKey(doc, this.deps.keyring, now).map((s) => ({ current: s.expiresAt === null, keyId: s.sealed.kid })),
      deliveries,
      windowFrom,
      ledgerPayments,
      activeApiKeys: keys.filter((k) => k.revokedAt === null).length,
      now,
    });
  }

  /** Both modes' latest payments, or null when the ledger is unreachable (health then relies on the delivery log). */
  private async ledgerSample(websiteId: string): Promise<PaymentState[] | null> {
    try {
      const [test, live] = await Promise.all([
        this.deps.ledger.listPayments(websiteId, { livemode: false, limit: LEDGER_SAMPLE }),
        this.deps.ledger.listPayments(websiteId, { livemode: true, limit: LEDGER_SAMPLE }),
      ]);
      return [...test, ...live];
    } catch (err) {
      if (!(err instanceof LedgerUnavailableError)) throw err;
      this.deps.onLedgerError?.(err);
      return null;
    }
  }

  /** With `id`, a second call with the same id throws ApiKeyIdTakenError instead of creating another key. */
  async createApiKey(ctx: RequestContext, websiteId: string, livemode: boolean, id?: string): Promise<{ view: ApiKeyView; key: string }> {
    const { doc, key } = await this.deps.apiKeys.create(websiteId, livemode, this.now(), id);
    await this.deps.audit.record({
      actor: ctx.actor, ip: ctx.ip, action: 'api_key.create', target: { type: 'api_key', id: doc._id }, websiteId,
      details: { prefix: doc.prefix, livemode },
    });
    return { view: apiKeyView(doc), key };
  }

  async getApiKey(id: string): Promise<ApiKeyView | null> {
    const doc = await this.deps.apiKeys.get(id);
    return doc ? apiKeyView(doc) : null;
  }

  async listApiKeys(websiteId: string): Promise<ApiKeyView[]> {
    return (await this.deps.apiKeys.listForWebsite(websiteId)).map(apiKeyView);
  }

  /** False when there is no active key with that id for the website. */
  async revokeApiKey(ctx: RequestContext, websiteId: string, keyId: string): Promise<boolean> {
    const revoked = await this.deps.apiKeys.revoke(websiteId, keyId, this.now());
    if (revoked) {
      // The prefix lets support match the entry to the key the merchant holds, as the create entry does.
      await this.deps.audit.record({
        actor: ctx.actor, ip: ctx.ip, action: 'api_key.revoke', target: { type: 'api_key', id: keyId }, websiteId,
        details: { prefix: revoked.prefix, livemode: revoked.livemode },
      });
    }
    return revoked !== null;
  }

  /** Test-mode deliveries of all the website's integrations (what the test-connection view shows while waiting). */
  async recentWebsiteDeliveries(websiteId: string, query: { livemode: boolean; provider?: IntegrationProvider; limit: number }): Promise<Array<DeliveryView & { integrationId: string; provider: string }>> {
    const ids = (await this.deps.integrations.listForWebsite(websiteId)).filter((d) => !query.provider || d.provider === query.provider).map((d) => d._id);
    const filter: Record<string, unknown> = {
      $or: [{ integrationId: { $in: ids } }, ...(query.provider === undefined || query.provider === 'manual' ? [{ websiteId, provider: 'manual' }] : [])],
      livemode: { $ne: !query.livemode },
    };
    const docs = await this.deps.deliveries.collection.find(filter).sort({ receivedAt: -1 }).limit(query.limit).toArray();
    return docs.map((d) => ({ ...deliveryView(d), integrationId: d.integrationId, provider: d.provider }));
  }
}

export function deliveryView(d: DeliveryDoc): DeliveryView {
  return {
    id: d._id,
    receivedAt: d.receivedAt.toISOString(),
    providerEventId: d.providerEventId,
    eventType: d.eventType,
    livemode: d.livemode,
    outcome: d.outcome,
    httpStatus: d.httpStatus,
    errorCode: d.errorCode,
    hadMetrivoSignals: d.hadMetrivoSignals,
    durationMs: d.durationMs,
    traceId: d.traceId ?? null,
  };
}

export function apiKeyView(d: ApiKeyDoc): ApiKeyView {
  return { id: d._id, websiteId: d.websiteId, prefix: d.prefix, livemode: d.livemode, createdAt: d.createdAt.toISOString(), revokedAt: d.revokedAt ? d.revokedAt.toISOString() : null };
}
