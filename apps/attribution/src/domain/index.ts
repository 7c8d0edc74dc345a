/**
 * Pure domain logic of the attribution app (no I/O). See README.md in this folder for the edge protocol.
 */
export { deriveChannel, type ChannelInput } from './channel';
export { isPaymentCheckoutReferrer, referrerHost } from './referrer';
export {
  createSessionView,
  preferredIdentity,
  identityFromIdentify,
  isQualifyingSession,
  newerSession,
  type EmailIdentity,
  type SessionView,
} from './sessions';
export {
  attributePayment,
  confidenceRank,
  DEFAULT_ATTRIBUTION_SETTINGS,
  inheritAttribution,
  isSettled,
  lastQualifyingSession,
  sourceOfSession,
  upgradeKeys,
  type AttributionBasis,
  type AttributionSettings,
} from './attribution';
export { factDocumentId, isTrialStartReport, linkKeysOf, toStoredPaymentFact, type StoredPaymentFact } from './payment-facts';
export {
  clusterPaymentFacts,
  foldPaymentCluster,
  survivorKey,
  type PaymentCluster,
  type PaymentFold,
  type PaymentMoney,
} from './payment-identity';
export { recordDocumentId, stateContent, type PaymentChanges, type PaymentRecord, type RecordWrite, type StateContent } from './payment-records';
export {
  applyPaymentEvents,
  emptyPaymentSnapshot,
  lateUpgradeUntil,
  nextPaymentLoad,
  sessionLookups,
  withLoaded,
  type ApplyPaymentEventsInput,
  type ApplyPaymentEventsResult,
  type PaymentLoadRequest,
  type PaymentSnapshot,
  type SessionLookups,
} from './apply-payment-events';
export {
  reattributePayments,
  subscriptionKeysToLoad,
  upgradeLookupKeys,
  type ReattributeInput,
  type TrackerSignal,
} from './late-upgrade';
