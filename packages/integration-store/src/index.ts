export * from './documents';
export { IntegrationStore, liveSecrets, openSecrets, openSecretsWithExpiry, resealSecrets, rollSecrets, secretsWithMissingKey, shownLast4, newId } from './integrations';
export type { UnreadableSecret } from './integrations';
export { ApiKeyIdTakenError, ApiKeyStore } from './api-keys';
export { DeliveryLog, type RefusedDelivery } from './deliveries';
