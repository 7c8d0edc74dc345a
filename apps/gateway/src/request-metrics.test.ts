import { testMeterProvider } from '@metrivo/testing';
import type { DeliveryInput } from './delivery-recorder';
import { observeDeliveryLog, requestMetrics } from './request-metrics';

const attempt = (over: Partial<DeliveryInput>): DeliveryInput => ({
  integrationId: 'int_1', websiteId: 'w_1', provider: 'stripe', receivedAt: new Date('2026-11-30T10:00:00Z'), providerEventId: 'evt_1',
  eventType: 'charge.succeeded', livemode: true, outcome: 'accepted', httpStatus: 200, errorCode: null, published: 1,
  hadMetrivoSignals: true, durationMs: 12, traceId: null, ...over,
});

describe('requestMetrics', () => {
  it('counts attempts and records their duration by provider, outcome, status and error code', async () => {
    const { provider, collect } = testMeterProvider();
    const count = requestMetrics(provider);
    count(attempt({}));
    count(attempt({ durationMs: 30 }));
    count(attempt({ provider: 'manual', outcome: 'unavailable', httpStatus: 503, errorCode: 'unavailable', durationMs: 5000 }));
    count(attempt({ outcome: 'rejected', httpStatus: 400, errorCode: 'invalid_signature', durationMs: 1 }));
    const points = await collect();
    const accepted = { 'metrivo.provider': 'stripe', 'metrivo.outcome': 'accepted', 'http.response.status_code': 200 };
    expect(points).toEqual(expect.arrayContaining([
      { name: 'metrivo.gateway.requests', unit: '{request}', value: 2, attributes: accepted },
      { name: 'metrivo.gateway.requests', unit: '{request}', value: 1, attributes: { 'metrivo.provider': 'manual', 'metrivo.outcome': 'unavailable', 'http.response.status_code': 503, 'error.type': 'unavailable' } },
      { name: 'metrivo.gateway.requests', unit: '{request}', value: 1, attributes: { 'metrivo.provider': 'stripe', 'metrivo.outcome': 'rejected', 'http.response.status_code': 400, 'error.type': 'invalid_signature' } },
      { name: 'metrivo.gateway.request.duration', unit: 'ms', value: { sum: 42, count: 2 }, attributes: accepted },
    ]));
    expect(points).toHaveLength(6);
  });

  it('the delivery log queue: waiting records as a gauge, lost ones (overflow + refused) as a counter', async () => {
    const { provider, collect } = testMeterProvider();
    const stats = { queued: 12, dropped: 2, refused: 1 };
    observeDeliveryLog({ stats: () => stats }, provider);
    expect(await collect()).toEqual([
      { name: 'metrivo.gateway.delivery_log.queued', unit: '{record}', value: 12, attributes: {} },
      { name: 'metrivo.gateway.delivery_log.dropped', unit: '{record}', value: 3, attributes: {} },
    ]);
  });
});
