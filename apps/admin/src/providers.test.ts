import { integrationProviders } from '@metrivo/integration-store';
import { PAYMENT_EVENT_TYPES, REQUIRED_EVENTS, secretFormatProblem, webhookUrlFor } from './providers';

describe('providers', () => {
  it('builds the contract webhook URL, without double slashes, and none for manual', () => {
    expect(webhookUrlFor('https://hooks.metrivo.example/', 'stripe', 'int_A1')).toBe('https://hooks.metrivo.example/v1/webhooks/stripe/int_A1');
    expect(webhookUrlFor('http://localhost:8081', 'dodo', 'int_x')).toBe('http://localhost:8081/v1/webhooks/dodo/int_x');
    expect(webhookUrlFor('http://localhost:8081', 'manual', 'int_x')).toBeNull();
  });

  it('subscribes to exactly the events the brief lists per provider', () => {
    expect(REQUIRED_EVENTS.stripe).toHaveLength(9);
    expect(REQUIRED_EVENTS.razorpay).toEqual(['payment.captured', 'order.paid', 'refund.processed']);
    expect(REQUIRED_EVENTS.dodo).toEqual(['payment.succeeded', 'refund.succeeded']);
    for (const p of integrationProviders) {
      if (p === 'manual') continue;
      // payment event types are a subset of the subscribed events
      for (const t of PAYMENT_EVENT_TYPES[p]) expect(REQUIRED_EVENTS[p]).toContain(t);
    }
  });

  it('rejects whitespace around any secret', () => {
    expect(secretFormatProblem('razorpay', ' abcdefghij')).toMatch(/spaces/);
    expect(secretFormatProblem('stripe', 'whsec_abcdefghijklmnop\n')).toMatch(/spaces/);
  });

  it('recognises pasted API keys and too-short secrets per provider, and refuses any secret for manual', () => {
    expect(secretFormatProblem('stripe', 'rk_live_abcdefghijklmnopqrst')).toMatch(/Stripe API key/);
    expect(secretFormatProblem('stripe', 'whsec_abcdefghijklmno')).toMatch(/at least 16/); // 15 after the prefix
    expect(secretFormatProblem('stripe', 'whsec_abcdefghijklmnop')).toBeNull();
    expect(secretFormatProblem('razorpay', 'rzp_test_abcdefghijkl')).toMatch(/API key id/);
    expect(secretFormatProblem('razorpay', 'rzp_live_abcdefghijkl')).toMatch(/API key id/);
    expect(secretFormatProblem('dodo', `whsec_${Buffer.alloc(15, 7).toString('base64')}`)).toMatch(/at least 16 bytes/);
    expect(secretFormatProblem('dodo', `whsec_${Buffer.alloc(16, 7).toString('base64')}`)).toBeNull();
    expect(secretFormatProblem('manual', 'anything-at-all-1234567890')).toMatch(/no webhook secret/);
  });
});
