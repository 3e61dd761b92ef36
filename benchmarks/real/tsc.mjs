/* global process, URL */
// Workload: tsc type-checks a small project (tsc-project/), as `tsc -p tsc-project` does.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
const require = createRequire(import.meta.url);
process.argv = [process.argv[0], 'tsc', '-p', fileURLToPath(new URL('./tsc-project', import.meta.url))];
require('typescript/lib/tsc.js');
