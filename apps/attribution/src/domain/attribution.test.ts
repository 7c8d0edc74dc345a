import { attributePayment, DEFAULT_ATTRIBUTION_SETTINGS, inheritAttribution, isSettled, upgradeKeys, type AttributionBasis } from './attribution';
import { createSessionView, type EmailIdentity } from './sessions';
import { emailHashOf, session, WEBSITE } from './test-support/builders';

const PAID_AT = '2026-11-29T10:09:30.000Z';
const settings = DEFAULT_ATTRIBUTION_SETTINGS;

const s = session;
function basis(b: Partial<AttributionBasis>): AttributionBasis {
  return { sessionIds: [], visitorIds: [], emailHashes: [], paidAt: PAID_AT, ...b };
}
function learned(email: string, visitorId: string, at = '2026-11-01T00:00:00.000Z', learnedFrom: EmailIdentity['learnedFrom'] = 'identify'): EmailIdentity {
  return { websiteId: WEBSITE, emailHash: emailHashOf(email), visitorId, at, learnedFrom };
}

const googleAds = s({
  sessionId: 's_3', visitorId: 'v_9', startedAt: '2026-11-29T10:00:00.000Z', lastSeenAt: '2026-11-29T10:07:12.000Z',
  referrer: 'https://www.google.com/', utm: { source: 'google', medium: 'cpc', campaign: 'bf' }, landingPage: '/pricing',
});
const olderBlog = s({ sessionId: 's_1', visitorId: 'v_9', startedAt: '2026-11-20T08:00:00.000Z', referrer: 'https://blog.example.org/' });
const checkoutReturn = s({ sessionId: 's_4', visitorId: 'v_9', startedAt: '2026-11-29T10:09:40.000Z', referrer: 'https://checkout.stripe.com/' });
const afterPayment = s({ sessionId: 's_5', visitorId: 'v_9', startedAt: '2026-11-29T12:00:00.000Z', referrer: 'https://t.co/x' });
const otherVisitor = s({ sessionId: 's_7', visitorId: 'v_7', startedAt: '2026-11-28T10:00:00.000Z', referrer: 'https://www.bing.com/' });

describe('attributePayment: the confidence table', () => {
  const view = createSessionView(WEBSITE, [googleAds, olderBlog, checkoutReturn, afterPayment, otherVisitor]);

  it('high/session when the named session exists and the named visitor agrees', () => {
    expect(attributePayment(basis({ sessionIds: ['s_3'], visitorIds: ['v_9'] }), view, settings)).toEqual({
      confidence: 'high', matchedBy: 'session', visitorId: 'v_9', sessionId: 's_3',
      source: { referrer: 'https://www.google.com/', channel: 'paid_search', utm: { source: 'google', medium: 'cpc', campaign: 'bf' }, landingPage: '/pricing', country: null, device: null },
    });
  });

  it('high/session when only the session is named (visitor taken from the session)', () => {
    const a = attributePayment(basis({ sessionIds: ['s_3'] }), view, settings);
    expect([a.confidence, a.matchedBy, a.visitorId, a.sessionId]).toEqual(['high', 'session', 'v_9', 's_3']);
  });

  it('a named session of another visitor falls back to the visitor rule', () => {
    const a = attributePayment(basis({ sessionIds: ['s_7'], visitorIds: ['v_9'] }), view, settings);
    expect([a.confidence, a.matchedBy, a.visitorId, a.sessionId]).toEqual(['medium', 'visitor', 'v_9', 's_3']);
  });

  it('medium/visitor credits the last qualifying session that started before the payment', () => {
    // s_4 (checkout return) and s_5 (after paying) are not credited.
    const a = attributePayment(basis({ sessionIds: ['s_unknown'], visitorIds: ['v_9'] }), view, settings);
    expect([a.confidence, a.matchedBy, a.visitorId, a.sessionId, a.source?.channel]).toEqual(['medium', 'visitor', 'v_9', 's_3', 'paid_search']);
  });

  it('medium/visitor respects the window (configurable) and keeps the visitor when no session is in it', () => {
    const paidLater = basis({ visitorIds: ['v_9'], paidAt: '2027-01-15T00:00:00.000Z' });
    const a = attributePayment(paidLater, view, settings);
    expect([a.confidence, a.matchedBy, a.visitorId, a.sessionId, a.source]).toEqual(['medium', 'visitor', 'v_9', null, null]);
    const wide = attributePayment(paidLater, view, { ...settings, windowDays: 60 });
    expect(wide.sessionId).toBe('s_5');
    const narrow = attributePayment(basis({ visitorIds: ['v_9'] }), view, { ...settings, windowDays: 5 });
    expect(narrow.sessionId).toBe('s_3');
    const tooNarrowForOld = attributePayment(basis({ visitorIds: ['v_9'], paidAt: '2026-11-25T00:00:00.000Z' }), view, { ...settings, windowDays: 1 });
    expect([tooNarrowForOld.confidence, tooNarrowForOld.sessionId]).toEqual(['medium', null]);
  });

  it('low/email through an identify event, with the same session choice', () => {
    const v = createSessionView(WEBSITE, [googleAds, olderBlog], [learned('jane', 'v_9')]);
    const a = attributePayment(basis({ emailHashes: [emailHashOf('jane')] }), v, settings);
    expect([a.confidence, a.matchedBy, a.visitorId, a.sessionId]).toEqual(['low', 'email', 'v_9', 's_3']);
  });

  it('low/email through an identity learned from an earlier payment', () => {
    const v = createSessionView(WEBSITE, [otherVisitor], [learned('joe', 'v_7', '2026-10-01T00:00:00.000Z', 'payment')]);
    const a = attributePayment(basis({ emailHashes: [emailHashOf('joe')] }), v, settings);
    expect([a.confidence, a.matchedBy, a.visitorId, a.sessionId]).toEqual(['low', 'email', 'v_7', 's_7']);
  });

  it('low/email also for the visitor the payment names, when an identify event ties it to the email (more data never lowers it)', () => {
    // v_2 has no recorded session (the visitor rule fails), but an identify event tied it to jane.
    const v = createSessionView(WEBSITE, [], [learned('jane', 'v_2', '2026-10-10T00:00:00.000Z')]);
    const emailOnly = attributePayment(basis({ emailHashes: [emailHashOf('jane')] }), v, settings);
    const withVisitor = attributePayment(basis({ emailHashes: [emailHashOf('jane')], visitorIds: ['v_2'] }), v, settings);
    expect(emailOnly).toEqual({ confidence: 'low', matchedBy: 'email', visitorId: 'v_2', sessionId: null, source: null });
    expect(withVisitor).toEqual(emailOnly);
  });

  it('low/email for the named visitor through an identity another (earlier) payment taught', () => {
    const v = createSessionView(WEBSITE, [], [learned('jane', 'v_2', '2026-10-01T00:00:00.000Z', 'payment')]);
    const a = attributePayment(basis({ emailHashes: [emailHashOf('jane')], visitorIds: ['v_2'] }), v, settings);
    expect([a.confidence, a.matchedBy, a.visitorId]).toEqual(['low', 'email', 'v_2']);
  });

  it('a payment never vouches for itself: the pair it taught (at its own paid time) does not count for it', () => {
    const v = createSessionView(WEBSITE, [], [learned('jane', 'v_2', PAID_AT, 'payment')]);
    const a = attributePayment(basis({ emailHashes: [emailHashOf('jane')], visitorIds: ['v_2'] }), v, settings);
    expect(a).toEqual({ confidence: 'none', matchedBy: 'none', visitorId: 'v_2', sessionId: null, source: null });
  });

  it('an identify event counts even when a payment taught the same pair earlier (identify sightings are kept over payment ones)', () => {
    const v = createSessionView(WEBSITE, [], [learned('jane', 'v_2', PAID_AT, 'payment'), learned('jane', 'v_2', '2026-12-05T00:00:00.000Z', 'identify')]);
    const a = attributePayment(basis({ emailHashes: [emailHashOf('jane')], visitorIds: ['v_2'] }), v, settings);
    expect([a.confidence, a.matchedBy, a.visitorId]).toEqual(['low', 'email', 'v_2']);
  });

  it('a pair learned from a payment vouches only for payments paid after it (by paid time, not arrival)', () => {
    const s2 = s({ sessionId: 's_2', visitorId: 'v_2', startedAt: '2026-11-28T10:00:00.000Z', referrer: 'https://www.bing.com/' });
    const taughtLater = createSessionView(WEBSITE, [s2], [learned('jane', 'v_2', '2026-12-09T00:00:00.000Z', 'payment')]);
    expect(attributePayment(basis({ emailHashes: [emailHashOf('jane')] }), taughtLater, settings)).toMatchObject({ confidence: 'none', matchedBy: 'none' });
    const taughtSameInstant = createSessionView(WEBSITE, [s2], [learned('jane', 'v_2', PAID_AT, 'payment')]);
    expect(attributePayment(basis({ emailHashes: [emailHashOf('jane')] }), taughtSameInstant, settings).confidence).toBe('none');
    // An identify event keeps its rule: it counts whenever it happened (late tracker data upgrades).
    const identifiedLater = createSessionView(WEBSITE, [s2], [learned('jane', 'v_2', '2026-12-09T00:00:00.000Z', 'identify')]);
    expect(attributePayment(basis({ emailHashes: [emailHashOf('jane')] }), identifiedLater, settings)).toMatchObject({ confidence: 'low', visitorId: 'v_2', sessionId: 's_2' });
  });

  it('low/email without a session in the window keeps the visitor, sessionId and source null', () => {
    const v = createSessionView(WEBSITE, [], [learned('jane', 'v_42')]);
    expect(attributePayment(basis({ emailHashes: [emailHashOf('jane')] }), v, settings)).toEqual({
      confidence: 'low', matchedBy: 'email', visitorId: 'v_42', sessionId: null, source: null,
    });
  });

  it('low/email picks, among several visitors of one email, the one with the most recent session', () => {
    const v = createSessionView(WEBSITE, [olderBlog, otherVisitor], [learned('jane', 'v_9'), learned('jane', 'v_7')]);
    const a = attributePayment(basis({ emailHashes: [emailHashOf('jane')] }), v, settings);
    expect([a.visitorId, a.sessionId]).toEqual(['v_7', 's_7']);
  });

  it('none/none keeps the ids the payment named', () => {
    const v = createSessionView(WEBSITE, []);
    expect(attributePayment(basis({ sessionIds: ['s_x'], visitorIds: ['v_x'], emailHashes: [emailHashOf('nobody')] }), v, settings)).toEqual({
      confidence: 'none', matchedBy: 'none', visitorId: 'v_x', sessionId: 's_x', source: null,
    });
  });

  it('ignores sessions and identities of other websites', () => {
    const foreign = s({ sessionId: 's_3', visitorId: 'v_9', startedAt: '2026-11-29T10:00:00.000Z', websiteId: 'w_other' });
    const v = createSessionView(WEBSITE, [foreign], [{ ...learned('jane', 'v_9'), websiteId: 'w_other' }]);
    const a = attributePayment(basis({ sessionIds: ['s_3'], visitorIds: ['v_9'], emailHashes: [emailHashOf('jane')] }), v, settings);
    expect(a.confidence).toBe('none');
  });

  it('the result does not depend on the order of the named ids', () => {
    const a = attributePayment(basis({ sessionIds: ['s_x', 's_3'], visitorIds: ['v_1', 'v_9'] }), view, settings);
    const b = attributePayment(basis({ sessionIds: ['s_3', 's_x'], visitorIds: ['v_9', 'v_1'] }), view, settings);
    expect(a).toEqual(b);
    expect(a.sessionId).toBe('s_3');
  });
});

describe('checkout-return skip', () => {
  it('a named session that is a return from checkout credits the previous qualifying session, still high', () => {
    const view = createSessionView(WEBSITE, [googleAds, olderBlog, checkoutReturn]);
    const a = attributePayment(basis({ sessionIds: ['s_4'], visitorIds: ['v_9'] }), view, settings);
    expect([a.confidence, a.matchedBy, a.visitorId, a.sessionId, a.source?.channel]).toEqual(['high', 'session', 'v_9', 's_3', 'paid_search']);
  });

  it('a return with no previous session stays high with no credited session', () => {
    const view = createSessionView(WEBSITE, [checkoutReturn]);
    expect(attributePayment(basis({ sessionIds: ['s_4'] }), view, settings)).toEqual({
      confidence: 'high', matchedBy: 'session', visitorId: 'v_9', sessionId: null, source: null,
    });
  });

  it('the visitor rule skips returns from razorpay and dodo checkouts too', () => {
    const rzp = s({ sessionId: 's_r', visitorId: 'v_9', startedAt: '2026-11-29T10:05:00.000Z', referrer: 'https://api.razorpay.com/v1/checkout/embedded' });
    const dodo = s({ sessionId: 's_d', visitorId: 'v_9', startedAt: '2026-11-29T10:06:00.000Z', referrer: 'https://checkout.dodopayments.com/buy/x' });
    const view = createSessionView(WEBSITE, [olderBlog, rzp, dodo]);
    expect(attributePayment(basis({ visitorIds: ['v_9'] }), view, settings).sessionId).toBe('s_1');
  });
});

describe('choosing among several candidates', () => {
  it('medium/visitor: among several named visitors the one with the most recent qualifying session is credited', () => {
    const early = s({ sessionId: 's_a', visitorId: 'v_a', startedAt: '2026-11-29T09:00:00.000Z', referrer: 'https://www.bing.com/' });
    const late = s({ sessionId: 's_b', visitorId: 'v_b', startedAt: '2026-11-29T10:00:00.000Z', referrer: 'https://t.co/x' });
    const view = createSessionView(WEBSITE, [early, late]);
    const a = attributePayment(basis({ visitorIds: ['v_a', 'v_b'] }), view, settings);
    expect([a.confidence, a.visitorId, a.sessionId]).toEqual(['medium', 'v_b', 's_b']);
  });

  it('low/email without any session in the window credits the most recently identified visitor', () => {
    const v = createSessionView(WEBSITE, [], [learned('jane', 'v_a', '2026-11-20T00:00:00.000Z'), learned('jane', 'v_b', '2026-11-01T00:00:00.000Z')]);
    expect(attributePayment(basis({ emailHashes: [emailHashOf('jane')] }), v, settings)).toEqual({
      confidence: 'low', matchedBy: 'email', visitorId: 'v_a', sessionId: null, source: null,
    });
  });

  it('high/session prefers a named session that is a traffic source over a named checkout return', () => {
    const ret = s({ sessionId: 's_a', visitorId: 'v_9', startedAt: '2026-11-29T09:00:00.000Z', referrer: 'https://checkout.stripe.com/' });
    const ad = s({ sessionId: 's_b', visitorId: 'v_9', startedAt: '2026-11-29T10:00:00.000Z', referrer: 'https://www.google.com/', utm: { source: 'google', medium: 'cpc' } });
    const view = createSessionView(WEBSITE, [ret, ad]);
    const a = attributePayment(basis({ sessionIds: ['s_a', 's_b'] }), view, settings);
    expect([a.confidence, a.matchedBy, a.sessionId, a.source?.channel]).toEqual(['high', 'session', 's_b', 'paid_search']);
  });

  it('a named checkout return credits the session before the return, not one started between the return and the payment', () => {
    const ret = s({ sessionId: 's_ret', visitorId: 'v_9', startedAt: '2026-11-29T09:00:00.000Z', referrer: 'https://checkout.stripe.com/' });
    const between = s({ sessionId: 's_mid', visitorId: 'v_9', startedAt: '2026-11-29T09:30:00.000Z', referrer: 'https://t.co/x' });
    const view = createSessionView(WEBSITE, [olderBlog, ret, between]);
    const a = attributePayment(basis({ sessionIds: ['s_ret'] }), view, settings);
    expect([a.confidence, a.sessionId]).toEqual(['high', 's_1']);
  });
});

describe('renewals and the upgrade index', () => {
  it('a renewal carries the initial payment attribution with matchedBy subscription', () => {
    const initial = attributePayment(basis({ sessionIds: ['s_3'] }), createSessionView(WEBSITE, [googleAds]), settings);
    expect(inheritAttribution(initial)).toEqual({ ...initial, matchedBy: 'subscription' });
  });

  it('only the first named session credited as itself is settled; everything else stays indexed', () => {
    const b = basis({ sessionIds: ['s_3'], visitorIds: ['v_9'], emailHashes: [emailHashOf('jane')] });
    const high = attributePayment(b, createSessionView(WEBSITE, [googleAds]), settings);
    expect(isSettled(high, b)).toBe(true);
    expect(upgradeKeys(b, high)).toEqual([]);
    const none = attributePayment(b, createSessionView(WEBSITE, []), settings);
    expect(upgradeKeys(b, none)).toEqual([`e:${emailHashOf('jane')}`, 's:s_3', 'v:v_9']);
  });
});
