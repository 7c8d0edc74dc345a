// Writes packages/contracts/schemas/*.json from the zod schemas. `npm run generate -w @metrivo/contracts`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonSchemas } from '../src/json-schema';

for (const [file, schema] of Object.entries(jsonSchemas())) {
  writeFileSync(join(__dirname, '..', 'schemas', file), `${JSON.stringify(schema, null, 2)}\n`);
  console.log(`wrote schemas/${file}`);
}
