import { describeIssues, normalizedPaymentEventSchema, SCHEMA_VERSION } from '@metrivo/contracts';
import type { NormalizedPaymentEvent, NormalizedPaymentEventInput, Provider } from '@metrivo/contracts';
import { PayloadError } from './payload-error';
import type { HandlerOutcome, NormalizeContext, NormalizeResult, ReportDraft } from './types';

export interface EnvelopeFacts {
  provider: Provider;
  /** The provider's id of the delivered event (evt_…, x-razorpay-event-id, webhook-id). */
  providerEventId: string;
  eventType: string;
  apiVersion: string | null;
  livemode: boolean;
}

/**
 * Wrap drafts in the contract envelope and validate each against the contract schema. The n-th report of
 * a provider event gets `eventId` `{provider}:{provider event id}:{n}` (n from 0, in a fixed order), so a
 * redelivery of the same event yields the same ids and downstream dedupe works. A draft with an
 * `eventIdSuffix` gets `{provider}:{provider event id}:{suffix}` instead: positions are only stable when
 * the provider redelivers the same snapshot, and Dodo does not (see `eventIdOf`).
 */
export function assemble(outcome: HandlerOutcome, facts: EnvelopeFacts, ctx: NormalizeContext): NormalizeResult {
  if (!Array.isArray(outcome)) return { events: [], ignored: outcome.ignored };
  const events = outcome.map((draft, n) => validate(toInput(draft, n, facts, ctx)));
  return { events };
}

/** The id `assemble` gives a report: attribution keeps the first version of an eventId, so it must name one report. */
export function eventIdOf(provider: Provider, providerEventId: string, suffix: string | number): string {
  return `${provider}:${providerEventId}:${suffix}`;
}

function toInput(draft: ReportDraft, n: number, facts: EnvelopeFacts, ctx: NormalizeContext): NormalizedPaymentEventInput {
  const { eventIdSuffix, ...report } = draft;
  return {
    ...report,
    schemaVersion: SCHEMA_VERSION,
    eventId: eventIdOf(facts.provider, facts.providerEventId, eventIdSuffix ?? n),
    websiteId: ctx.websiteId,
    integrationId: ctx.integrationId,
    provider: facts.provider,
    livemode: facts.livemode,
    source: {
      eventId: facts.providerEventId,
      eventType: facts.eventType,
      apiVersion: facts.apiVersion,
      receivedAt: ctx.receivedAt.toISOString(),
    },
  };
}

function validate(input: NormalizedPaymentEventInput): NormalizedPaymentEvent {
  const parsed = normalizedPaymentEventSchema.safeParse(input);
  if (!parsed.success) {
    // The readers reject bad provider fields first; what is left here is e.g. an id longer than the contract allows.
    const first = parsed.error.issues[0];
    const field = first && first.path.length > 0 ? `normalized.${first.path.map(String).join('.')}` : 'normalized';
    throw new PayloadError(field, `does not fit the payment-event contract: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}
