import { sessionEventSchema, type SessionEvent } from '@metrivo/contracts';
import { hashEmail } from '@metrivo/crypto';
import { createTrafficModel, suggestTestPayment, type VisitorPlan } from './simulate-model';

const HASH_KEY = 'simulator-test-key-0123456789abcdef';
const ARRIVAL = Date.parse('2026-11-20T10:00:00Z');

function plan(count: number, options: { seed?: number; live?: boolean } = {}): VisitorPlan[] {
  const model = createTrafficModel({ websiteId: 'w_sim', live: options.live ?? false, seed: options.seed ?? 7, hashKey: HASH_KEY });
  return Array.from({ length: count }, () => model.planVisitor(ARRIVAL + model.random() * 86_400_000));
}

const events = (p: VisitorPlan): SessionEvent[] => p.steps.map((s) => s.event());
const sessionsOf = (p: VisitorPlan) => events(p).filter((e): e is Extract<SessionEvent, { type: 'session' }> => e.type === 'session');

describe('simulator traffic model', () => {
  const plans = plan(300);

  it('is reproducible from its seed, and another seed gives other visitors', () => {
    const again = plan(300);
    expect(again.map((p) => p.visitorId)).toEqual(plans.map((p) => p.visitorId));
    expect(again.map(events)).toEqual(plans.map(events));
    expect(plan(5, { seed: 8 }).map((p) => p.visitorId)).not.toEqual(plans.slice(0, 5).map((p) => p.visitorId));
  });

  it('sends only events the SessionEvent contract accepts, for its website and visitor', () => {
    for (const p of plans) {
      for (const e of events(p)) {
        expect(sessionEventSchema.safeParse(e).success).toBe(true);
        expect(e).toMatchObject({ websiteId: 'w_sim', visitorId: p.visitorId });
      }
    }
  });

  it('re-sends a growing session under one id: same start, later lastSeenAt at each step', () => {
    for (const p of plans) {
      const byId = new Map<string, string[]>();
      for (const e of sessionsOf(p)) {
        expect(Date.parse(e.lastSeenAt)).toBeGreaterThanOrEqual(Date.parse(e.startedAt));
        byId.set(`${e.sessionId} ${e.startedAt}`, [...(byId.get(`${e.sessionId} ${e.startedAt}`) ?? []), e.lastSeenAt]);
      }
      // One start per session id: a re-send never moves the start.
      expect(new Set([...byId.keys()].map((k) => k.split(' ')[0])).size).toBe(byId.size);
      for (const seen of byId.values()) expect([...seen].sort()).toEqual(seen);
    }
    expect(plans.some((p) => sessionsOf(p).length > new Set(sessionsOf(p).map((e) => e.sessionId)).size)).toBe(true);
  });

  it('hashes identify emails with the tracker key, and only visitors with an email identify', () => {
    let identifies = 0;
    for (const p of plans) {
      for (const e of events(p)) {
        if (e.type !== 'identify') continue;
        identifies += 1;
        expect(p.email).not.toBeNull();
        expect(e.emailHash).toBe(hashEmail(p.email!, HASH_KEY));
      }
    }
    expect(identifies).toBeGreaterThan(50);
  });

  it('keeps checkout returns out of the suggestible sessions', () => {
    let returns = 0;
    for (const p of plans) {
      const suggestible = new Set(p.sessions.map((s) => s.sessionId));
      for (const e of sessionsOf(p)) {
        const fromCheckout = e.referrer === 'https://checkout.stripe.com/';
        if (fromCheckout) returns += 1;
        expect(suggestible.has(e.sessionId)).toBe(!fromCheckout);
      }
    }
    expect(returns).toBeGreaterThan(10);
  });

  it('spreads sessions over hours and days, or seconds apart when live', () => {
    const gaps = (list: VisitorPlan[]) => list.flatMap((p) => p.sessions.slice(1).map((s, i) => s.start - p.sessions[i]!.start));
    const history = gaps(plans);
    const live = gaps(plan(300, { live: true }));
    expect(history.length).toBeGreaterThan(0);
    expect(live.length).toBeGreaterThan(0);
    expect(Math.min(...history)).toBeGreaterThanOrEqual(2 * 3_600_000);
    expect(Math.max(...live)).toBeLessThanOrEqual(180_000);
  });
});

describe('suggestTestPayment', () => {
  const plans = plan(40);
  const allSessions = new Set(plans.flatMap((p) => p.sessions.map((s) => s.sessionId)));
  const allVisitors = new Set(plans.map((p) => p.visitorId));

  it('suggests each sample visitor’s latest session, three at most, and an identified visitor’s email', () => {
    const s = suggestTestPayment(plans, { sessions: allSessions, identifiedVisitors: allVisitors });
    expect(s.sessions).toHaveLength(3);
    for (const suggested of s.sessions) {
      const p = plans.find((x) => x.visitorId === suggested.visitorId)!;
      expect(suggested).toEqual({ sessionId: p.sessions.at(-1)!.sessionId, visitorId: p.visitorId, source: p.source });
    }
    expect(s.email).toEqual({ email: plans.find((p) => p.email)!.email, visitorId: plans.find((p) => p.email)!.visitorId });
  });

  it('never suggests a session or an email match that Kafka did not acknowledge (an interrupted run)', () => {
    const multi = plans.filter((p) => p.sessions.length > 1);
    expect(multi.length).toBeGreaterThan(0);
    // Only the first session of visitors with several was sent; the others' sessions were not sent at all.
    const sent = new Set(multi.map((p) => p.sessions[0]!.sessionId));
    const s = suggestTestPayment(plans, { sessions: sent, identifiedVisitors: new Set() });
    expect(s.sessions.length).toBe(Math.min(3, multi.length));
    for (const suggested of s.sessions) expect(sent.has(suggested.sessionId)).toBe(true);
    expect(s.email).toBeNull();

    const identified = plans.filter((p) => p.email).at(-1)!;
    expect(suggestTestPayment(plans, { sessions: new Set(), identifiedVisitors: new Set([identified.visitorId]) })).toEqual({
      sessions: [],
      email: { email: identified.email, visitorId: identified.visitorId },
    });
  });
});
