export { hashEmail, maskEmail, normalizeEmail, looksLikeEmail } from './email';
export { parseKeyring, keyringProblem, generateKeyringEntry, encryptSecret, decryptSecret } from './secrets';
export type { Keyring, EncryptedSecret } from './secrets';
export { generateApiKey, hashApiKey, constantTimeEqual, lastFour, MIN_SECRET_LENGTH_FOR_SUFFIX } from './api-keys';
