// Bundles each library tsc emitted (argv[2]) into one script per library (argv[3]), as a user's
// project would with rollup: '@redis/gears-api' resolves to the package in sdk/gears-api, and
// the `#!js` prologue stays the first line.
import { rollup } from 'rollup';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const [inputDir, outputDir] = process.argv.slice(2);
const api = fileURLToPath(new URL('../../sdk/gears-api/gears-api.js', import.meta.url));
const gearsApi = {
  name: 'gears-api',
  resolveId(id) { return id === '@redis/gears-api' ? api : null; },
};
for (const file of readdirSync(inputDir).filter((f) => f.endsWith('.js'))) {
  const bundle = await rollup({ input: path.join(inputDir, file), plugins: [gearsApi] });
  await bundle.write({ file: path.join(outputDir, file), format: 'es' });
  await bundle.close();
}
