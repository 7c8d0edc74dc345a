import type { Attribution, AttributionSource, Confidence, SessionRecord } from '@metrivo/contracts';
import { deriveChannel } from './channel';
import { isQualifyingSession, type EmailIdentity, type SessionView } from './sessions';
import { compareIso, compareStrings, DAY_MS, toMs, sortedDistinct } from './util';

/**
 * The payment-side inputs of attribution: every id the payment's reports named (sorted, distinct, so that
 * conflicting reports are all tried, in a fixed order) and the money time. Stored with each PaymentRecord:
 * attribution is recomputed only when these change (new payment data) or when late tracker data arrives.
 */
export interface AttributionBasis {
  sessionIds: string[];
  visitorIds: string[];
  emailHashes: string[];
  paidAt: string;
}

export interface AttributionSettings {
  /** How far before the payment a visitor's session may start and still be credited (DESIGN: 30 days). */
  windowDays: number;
  /** How long after a payment is published late tracker data may still change its attribution (≥ 24 h). */
  lateUpgradeHours: number;
}

export const DEFAULT_ATTRIBUTION_SETTINGS: AttributionSettings = { windowDays: 30, lateUpgradeHours: 72 };

const CONFIDENCE_RANK: Record<Confidence, number> = { none: 0, low: 1, medium: 2, high: 3 };

export function confidenceRank(confidence: Confidence): number {
  return CONFIDENCE_RANK[confidence];
}

/** The traffic source of a credited session, as published in PaymentState.attribution.source. */
export function sourceOfSession(session: SessionRecord): AttributionSource {
  const utm = session.utm && Object.values(session.utm).some((v) => v !== undefined) ? session.utm : null;
  return {
    referrer: session.referrer ?? null,
    channel: deriveChannel({ referrer: session.referrer, utm: session.utm, landingPage: session.landingPage }),
    utm,
    landingPage: session.landingPage ?? null,
    country: session.country ?? null,
    device: session.device ?? null,
  };
}

function laterSession(a: SessionRecord, b: SessionRecord): SessionRecord {
  const t = compareIso(a.startedAt, b.startedAt);
  if (t !== 0) return t > 0 ? a : b;
  return compareStrings(a.sessionId, b.sessionId) >= 0 ? a : b;
}

/** The visitor's latest qualifying session that started within [from, to]. */
export function lastQualifyingSession(view: SessionView, visitorId: string, from: string, to: string): SessionRecord | null {
  if (toMs(to) < toMs(from)) return null;
  let best: SessionRecord | null = null;
  for (const s of view.visitorSessionsBetween(visitorId, from, to)) {
    if (s.websiteId !== view.websiteId || s.visitorId !== visitorId || !isQualifyingSession(s)) continue;
    best = best === null ? s : laterSession(s, best);
  }
  return best;
}

function windowStart(paidAt: string, settings: AttributionSettings): string {
  return new Date(toMs(paidAt) - settings.windowDays * DAY_MS).toISOString();
}

function credited(confidence: Confidence, matchedBy: Attribution['matchedBy'], visitorId: string, session: SessionRecord | null): Attribution {
  return { confidence, matchedBy, visitorId, sessionId: session?.sessionId ?? null, source: session ? sourceOfSession(session) : null };
}

/** Pick the visitor whose latest qualifying session in the window is most recent; null when none has one. */
function bestVisitorSession(
  visitorIds: readonly string[],
  view: SessionView,
  from: string,
  to: string,
): { visitorId: string; session: SessionRecord } | null {
  let best: { visitorId: string; session: SessionRecord } | null = null;
  for (const visitorId of visitorIds) {
    const session = lastQualifyingSession(view, visitorId, from, to);
    if (session && (best === null || laterSession(session, best.session) === session)) best = { visitorId, session };
  }
  return best;
}

/**
 * The confidence table of DESIGN §6, applied to one payment (never to a renewal that inherits):
 *  - high/session: a named session recorded for this website whose visitor is a named visitor (if any is
 *    named). If that session is a return from a provider's checkout page, the visitor's previous qualifying
 *    session is credited instead, still high (the payer is certain; only the traffic source moves back);
 *    if there is none, high with sessionId and source null.
 *  - medium/visitor: a named visitor with at least one recorded session; credits the visitor's last
 *    qualifying session that started before paidAt within the window (null when there is none).
 *  - low/email: the email hash identifies another visitor (identify event or learned from a payment);
 *    same session choice; sessionId/source null when no session is in the window.
 *  - none/none: keeps the first named visitor and session id so late data can upgrade it.
 * Multiple candidates are tried in sorted order; among visitors the one with the most recent qualifying
 * session wins, so the result depends only on the sets of ids, not on report order.
 */
export function attributePayment(basis: AttributionBasis, view: SessionView, settings: AttributionSettings): Attribution {
  const from = windowStart(basis.paidAt, settings);
  const sessionIds = sortedDistinct(basis.sessionIds);
  const visitorIds = sortedDistinct(basis.visitorIds);

  // high: named session, visitor agrees. Prefer a named session that is itself a source.
  const agreeing: SessionRecord[] = [];
  for (const id of sessionIds) {
    const s = view.getSession(id);
    if (!s || s.websiteId !== view.websiteId) continue;
    if (visitorIds.length > 0 && !visitorIds.includes(s.visitorId)) continue;
    agreeing.push(s);
  }
  const named = agreeing.find(isQualifyingSession) ?? agreeing[0];
  if (named) {
    if (isQualifyingSession(named)) return credited('high', 'session', named.visitorId, named);
    const before = compareIso(named.startedAt, basis.paidAt) < 0 ? named.startedAt : basis.paidAt;
    const previous = lastQualifyingSession(view, named.visitorId, from, before);
    return credited('high', 'session', named.visitorId, previous && previous.sessionId !== named.sessionId ? previous : null);
  }

  // medium: named visitor recorded on this website.
  const known = visitorIds.filter((v) => view.isKnownVisitor(v));
  const firstKnown = known[0];
  if (firstKnown !== undefined) {
    const best = bestVisitorSession(known, view, from, basis.paidAt);
    return best ? credited('medium', 'visitor', best.visitorId, best.session) : credited('medium', 'visitor', firstKnown, null);
  }

  // low: the email identifies a visitor — also one the payment names (it failed the visitor rule, having no
  // recorded session, but an identify event or another payment can still tie it to the email).
  const identities = sortedDistinct(basis.emailHashes)
    .flatMap((e) => view.visitorsForEmail(e))
    .filter((i) => i.websiteId === view.websiteId && vouchesFor(i, basis));
  if (identities.length > 0) {
    const candidates = sortedDistinct(identities.map((i) => i.visitorId));
    const best = bestVisitorSession(candidates, view, from, basis.paidAt);
    if (best) return credited('low', 'email', best.visitorId, best.session);
    const latest = [...identities].sort((a, b) => compareIso(b.at, a.at) || compareStrings(a.visitorId, b.visitorId))[0]!;
    return credited('low', 'email', latest.visitorId, null);
  }

  return { confidence: 'none', matchedBy: 'none', visitorId: visitorIds[0] ?? null, sessionId: sessionIds[0] ?? null, source: null };
}

/**
 * Whether an email→visitor identity may vouch for this payment. Identify events always may, whenever they
 * happened (late tracker data upgrades a payment). A pair learned from a payment may only when that payment
 * was paid BEFORE this one (DESIGN §6: "an earlier payment that carried both email and visitor id"). The
 * identity's `at` is the teaching payment's paid time, so the rule is about payment times, not processing
 * order, and the fold stays order-independent. This also keeps a payment from vouching for itself: the pair
 * it teaches is learned at its own paid time (or later, while an earlier report of it is still missing).
 */
function vouchesFor(identity: EmailIdentity, basis: AttributionBasis): boolean {
  if (identity.learnedFrom === 'identify') return true;
  return toMs(identity.at) < toMs(basis.paidAt);
}

/** A renewal carries its subscription's first payment's attribution (DESIGN §6), whatever its confidence. */
export function inheritAttribution(initial: Attribution): Attribution {
  return { ...initial, matchedBy: 'subscription' };
}

/**
 * True when no later tracker data can change this attribution: the first named session itself was
 * credited. Settled payments are left out of the late-upgrade index.
 */
export function isSettled(attribution: Attribution, basis: AttributionBasis): boolean {
  const first = sortedDistinct(basis.sessionIds)[0];
  return attribution.confidence === 'high' && first !== undefined && attribution.sessionId === first;
}

/**
 * Index keys of the late-upgrade lookup (see late-upgrade.ts): a payment is found again when a session
 * it named (`s:`), a visitor it named or was credited to (`v:`), or an email it carried (`e:`) gets new data.
 * Settled payments have none, unless `keepSettled` (a subscription's first payment: its renewals must be
 * findable through it until the horizon, see reattributePayments).
 */
export function upgradeKeys(basis: AttributionBasis, attribution: Attribution, keepSettled = false): string[] {
  if (!keepSettled && isSettled(attribution, basis)) return [];
  const keys = [
    ...basis.sessionIds.map((s) => `s:${s}`),
    ...basis.visitorIds.map((v) => `v:${v}`),
    ...(attribution.visitorId !== null ? [`v:${attribution.visitorId}`] : []),
    ...basis.emailHashes.map((e) => `e:${e}`),
  ];
  return sortedDistinct(keys);
}
