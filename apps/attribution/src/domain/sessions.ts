import type { IdentifyRecord, SessionRecord } from '@metrivo/contracts';
import { isPaymentCheckoutReferrer } from './referrer';
import { compareIso, compareStrings, stableStringify, toMs } from './util';

/**
 * A visitor's email hash, learned from an identify event or from a payment that carried both the email
 * and the visitor id. One document per (websiteId, emailHash, visitorId), the sighting `preferredIdentity`
 * keeps (`at` is that sighting's time; for a payment, its paid time).
 */
export interface EmailIdentity {
  websiteId: string;
  emailHash: string;
  visitorId: string;
  at: string;
  learnedFrom: 'identify' | 'payment';
}

/**
 * What the attribution rules need to know about one website's tracker data. The edge implements it over
 * data it preloaded (see `createSessionView`); every method is synchronous and answers for ONE website.
 */
export interface SessionView {
  readonly websiteId: string;
  /** The latest version of a session recorded for this website, or null. */
  getSession(sessionId: string): SessionRecord | null;
  /** Sessions of the visitor with `from <= startedAt <= to` (ISO timestamps), any order. */
  visitorSessionsBetween(visitorId: string, from: string, to: string): readonly SessionRecord[];
  /** True when at least one session of this visitor was recorded for this website. */
  isKnownVisitor(visitorId: string): boolean;
  /** Visitors identified with this email hash (identify events and learned from payments). */
  visitorsForEmail(emailHash: string): readonly EmailIdentity[];
  /** Email hashes identified for this visitor: used to find payments a new session may upgrade. */
  emailsForVisitor(visitorId: string): readonly string[];
}

/** A session is a traffic source unless it is the visitor coming back from a provider's payment page. */
export function isQualifyingSession(session: SessionRecord): boolean {
  return !isPaymentCheckoutReferrer(session.referrer);
}

/**
 * The tracker re-sends a session as it grows: the version with the latest lastSeenAt wins. Ties are broken
 * by content so that any delivery order keeps the same version (idempotent under duplicates/reordering).
 */
export function newerSession(existing: SessionRecord | null, incoming: SessionRecord): SessionRecord {
  if (existing === null) return incoming;
  const byTime = compareIso(incoming.lastSeenAt, existing.lastSeenAt);
  if (byTime !== 0) return byTime > 0 ? incoming : existing;
  return compareStrings(stableStringify(incoming), stableStringify(existing)) > 0 ? incoming : existing;
}

/**
 * The one sighting kept per (email, visitor) pair: an identify event over a payment, then the earliest.
 * Why identify first: an identify event vouches for every payment of that email, a payment-learned pair only
 * for other payments (see attributePayment), so keeping the earlier payment sighting would lose a later
 * identify event's vouching. Among sightings of one kind the earliest vouches for the most payments. A total
 * order, so any arrival order keeps the same sighting.
 */
export function preferredIdentity(existing: EmailIdentity | null, incoming: EmailIdentity): EmailIdentity {
  if (existing === null) return incoming;
  if (incoming.learnedFrom !== existing.learnedFrom) return incoming.learnedFrom === 'identify' ? incoming : existing;
  return compareIso(incoming.at, existing.at) < 0 ? incoming : existing;
}

export function identityFromIdentify(event: IdentifyRecord): EmailIdentity {
  return { websiteId: event.websiteId, emailHash: event.emailHash, visitorId: event.visitorId, at: event.at, learnedFrom: 'identify' };
}

/**
 * In-memory SessionView over preloaded records: the edge loads the sessions and identities a computation
 * may touch (see `sessionLookups`) and wraps them. Records for other websites are ignored.
 */
export function createSessionView(
  websiteId: string,
  sessions: Iterable<SessionRecord>,
  identities: Iterable<EmailIdentity> = [],
): SessionView {
  const byId = new Map<string, SessionRecord>();
  for (const s of sessions) {
    if (s.websiteId !== websiteId) continue;
    byId.set(s.sessionId, newerSession(byId.get(s.sessionId) ?? null, s));
  }
  const byVisitor = new Map<string, SessionRecord[]>();
  for (const s of byId.values()) {
    const list = byVisitor.get(s.visitorId) ?? [];
    list.push(s);
    byVisitor.set(s.visitorId, list);
  }
  const identityByPair = new Map<string, EmailIdentity>();
  for (const i of identities) {
    if (i.websiteId !== websiteId) continue;
    const k = `${i.emailHash}\u0000${i.visitorId}`;
    identityByPair.set(k, preferredIdentity(identityByPair.get(k) ?? null, i));
  }
  const byEmail = new Map<string, EmailIdentity[]>();
  const emailsByVisitor = new Map<string, string[]>();
  for (const i of identityByPair.values()) {
    byEmail.set(i.emailHash, [...(byEmail.get(i.emailHash) ?? []), i]);
    emailsByVisitor.set(i.visitorId, [...(emailsByVisitor.get(i.visitorId) ?? []), i.emailHash]);
  }
  return {
    websiteId,
    getSession: (id) => byId.get(id) ?? null,
    visitorSessionsBetween: (visitorId, from, to) => {
      const fromMs = toMs(from);
      const toMsValue = toMs(to);
      return (byVisitor.get(visitorId) ?? []).filter((s) => {
        const t = toMs(s.startedAt);
        return t >= fromMs && t <= toMsValue;
      });
    },
    isKnownVisitor: (visitorId) => byVisitor.has(visitorId),
    visitorsForEmail: (emailHash) => byEmail.get(emailHash) ?? [],
    emailsForVisitor: (visitorId) => emailsByVisitor.get(visitorId) ?? [],
  };
}
