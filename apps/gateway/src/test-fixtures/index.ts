export * as stripeFixtures from './stripe';
export * as razorpayFixtures from './razorpay';
export * as dodoFixtures from './dodo';
export { prefixedId, randomToken, unixNow } from './ids';
