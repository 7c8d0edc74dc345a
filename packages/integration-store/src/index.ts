export * from './documents';
export { IntegrationStore, liveSecrets, openSecrets, openSecretsWithExpiry, rollSecrets, newId } from './integrations';
export { ApiKeyStore } from './api-keys';
export { DeliveryLog } from './deliveries';
