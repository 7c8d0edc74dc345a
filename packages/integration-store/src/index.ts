export * from './documents';
export { IntegrationStore, liveSecrets, openSecrets, rollSecrets, newId } from './integrations';
export { ApiKeyStore } from './api-keys';
export { DeliveryLog } from './deliveries';
