/* global process */
// What `stackscope trace --include-package PKG -o OUT SCRIPT ARGS` runs (runTrace, default
// settings), keeping the threads' dumps in DUMPDIR for the writer benchmark. THROTTLE: as
// `--throttle` (default: the default).
// node benchmarks/real/run-traced.mjs DUMPDIR OUT PKG THROTTLE|default SCRIPT [ARGS...]
import { runTrace } from '../../dist/trace/session.js';

const [dumpDir, out, pkg, throttle, script, ...args] = process.argv.slice(2);
const throttleAfter = throttle === 'default' ? undefined : Number(throttle);
const r = await runTrace({ script, args, out, includePackages: [pkg], dumpDir, throttleAfter });
if (r.writeError || r.exitCode !== 0) {
  process.stderr.write(`run-traced: exit ${r.exitCode}, ${r.writeError ?? ''}\n`);
  process.exit(1);
}
