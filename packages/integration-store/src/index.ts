export * from './documents';
export { IntegrationStore, liveSecrets, openSecrets, openSecretsWithExpiry, resealSecrets, rollSecrets, secretsWithMissingKey, newId } from './integrations';
export type { UnreadableSecret } from './integrations';
export { ApiKeyStore } from './api-keys';
export { DeliveryLog } from './deliveries';
