// The real broker and database of the jest integration global set-up.
function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through the jest integration project`);
  return value;
}

export const brokers = (): string => required('KAFKA_BROKERS');
export const mongodbUri = (): string => required('MONGODB_URI');
