import type { PaymentState } from '@metrivo/contracts';

/** Plain-language "why" for a confidence label (DESIGN.md §6), for support and merchants. */
export function explainAttribution(a: PaymentState['attribution']): string {
  switch (a.matchedBy) {
    case 'session':
      return `The payment named session ${a.sessionId ?? '(unknown)'}, which Metrivo recorded for this website${a.visitorId ? ` (visitor ${a.visitorId})` : ''}.`;
    case 'visitor':
      return `The payment named visitor ${a.visitorId ?? '(unknown)'}; Metrivo credited that visitor's last session before paying${a.sessionId ? ` (${a.sessionId})` : ''}, within the attribution window.`;
    case 'email':
      return `Only the customer's email matched a visitor identified on this website${a.visitorId ? ` (${a.visitorId})` : ''}.`;
    case 'subscription':
      return 'A subscription renewal: it inherits the attribution of the subscription\'s first payment.';
    case 'none':
      return a.sessionId || a.visitorId
        ? `Nothing matched yet. The ids the payment named (${[a.sessionId && `session ${a.sessionId}`, a.visitorId && `visitor ${a.visitorId}`].filter(Boolean).join(', ')}) are kept: if the tracker data arrives late, the attribution is upgraded.`
        : 'Nothing matched: the payment carried no Metrivo session or visitor id and its email matched no visitor. Check that checkout passes metrivo_session_id / metrivo_visitor_id as metadata.';
  }
}

export const CONFIDENCE_LABELS: Record<PaymentState['attribution']['confidence'], string> = {
  high: 'High confidence',
  medium: 'Medium confidence',
  low: 'Low confidence',
  none: 'Not attributed',
};
