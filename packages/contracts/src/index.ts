export * from './common';
export * from './money';
export * from './session-event';
export * from './payment-event';
export * from './payment-state';
export * from './topics';
export * from './validation';
export { jsonSchemas } from './json-schema';
