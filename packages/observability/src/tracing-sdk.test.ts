import { ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { AlwaysOffSampler, BasicTracerProvider, ParentBasedSampler } from '@opentelemetry/sdk-trace-base';
import { enableTraceContext, markTracingSdkRunning, outgoingTraceHeaders, withSpan } from './tracing';

/** With an SDK whose sampler drops the span, its ids and unsampled flag are kept: nothing claims "sampled". */
describe('withSpan under an SDK that samples', () => {
  beforeAll(() => {
    enableTraceContext();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }) }));
    markTracingSdkRunning();
  });

  it('a dropped root keeps the SDK\'s ids and flags 00 (no invented, sampled trace)', async () => {
    const seen = await withSpan('dropped', {}, async () => outgoingTraceHeaders().traceparent);
    expect(seen).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  });

  it('an unsampled parent stays unsampled in the child', async () => {
    const parent = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.NONE, isRemote: true };
    const seen = await withSpan('child', { parent: trace.setSpanContext(ROOT_CONTEXT, parent) }, async () => outgoingTraceHeaders().traceparent);
    expect(seen).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$/);
  });
});
