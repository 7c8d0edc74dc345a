import { z } from 'zod';
import { normalizedPaymentEventSchema } from './payment-event';
import { paymentStateSchema } from './payment-state';
import { sessionEventSchema } from './session-event';

/** JSON Schema (draft 2020-12) documents for other Metrivo teams, generated from the zod schemas. */
export function jsonSchemas(): Record<string, unknown> {
  const gen = (schema: z.ZodType, title: string, io: 'input' | 'output') => ({
    ...z.toJSONSchema(schema, { io, unrepresentable: 'any' }),
    title,
  });
  return {
    'normalized-payment-event.v1.schema.json': gen(normalizedPaymentEventSchema, 'NormalizedPaymentEvent (metrivo.payments.v1)', 'output'),
    'session-event.v1.schema.json': gen(sessionEventSchema, 'SessionEvent (metrivo.visitor-sessions.v1)', 'input'),
    'payment-state.v1.schema.json': gen(paymentStateSchema, 'PaymentState (metrivo.revenue.attributed.v1)', 'output'),
  };
}
