export { hashEmail, maskEmail, normalizeEmail, looksLikeEmail } from './email';
export { parseKeyring, keyringProblem, generateKeyringEntry, encryptSecret, decryptSecret } from './secrets';
export type { Keyring, EncryptedSecret } from './secrets';
export { generateApiKey, hashApiKey, constantTimeEqual, lastFour } from './api-keys';
