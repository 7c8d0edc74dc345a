import { hash, verify } from '@node-rs/argon2';

/**
 * Staff passwords: argon2id (memory-hard) with OWASP's baseline parameters (19 MiB, 2 passes,
 * 1 lane). The PHC string stores the parameters, so raising them later keeps old hashes verifiable.
 */
const ARGON2ID = 2; // Algorithm.Argon2id (a const enum, which isolated-module compilers cannot inline)
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;

export function passwordProblem(password: string): string | null {
  if (password.length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `must be at most ${MAX_PASSWORD_LENGTH} characters`;
  if (password.trim() === '') return 'must not be only spaces';
  return null;
}

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false; // a malformed stored hash never authenticates
  }
}

// Verifying against this when the email is unknown keeps the response time the same as for a
// wrong password, so login timing does not reveal which staff emails exist.
let dummyHash: Promise<string> | null = null;
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hashPassword('metrivo-dummy-password-for-timing');
  await verifyPassword(await dummyHash, password);
}
