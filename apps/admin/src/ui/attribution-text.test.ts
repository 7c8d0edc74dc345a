import type { PaymentState } from '@metrivo/contracts';
import { explainAttribution } from './attribution-text';

const a = (over: Partial<PaymentState['attribution']>): PaymentState['attribution'] => ({ confidence: 'none', matchedBy: 'none', visitorId: null, sessionId: null, source: null, ...over });

describe('explainAttribution', () => {
  it('names the signal that matched', () => {
    expect(explainAttribution(a({ confidence: 'high', matchedBy: 'session', sessionId: 's_3', visitorId: 'v_9' }))).toBe('The payment named session s_3, which Metrivo recorded for this website (visitor v_9).');
    expect(explainAttribution(a({ confidence: 'medium', matchedBy: 'visitor', visitorId: 'v_9', sessionId: 's_2' }))).toContain('visitor v_9');
    expect(explainAttribution(a({ confidence: 'low', matchedBy: 'email', visitorId: 'v_4' }))).toContain('email');
    expect(explainAttribution(a({ confidence: 'high', matchedBy: 'subscription' }))).toContain('renewal');
  });

  it('for unmatched payments, says whether ids were kept for a late upgrade or metadata is missing', () => {
    expect(explainAttribution(a({ sessionId: 's_late' }))).toContain('session s_late');
    expect(explainAttribution(a({ sessionId: 's_late' }))).toContain('upgraded');
    expect(explainAttribution(a({}))).toContain('metrivo_session_id');
  });
});
