/** What the end-to-end benchmarks share: timing a whole `node` process, and the median of runs. */
import { spawnSync } from 'node:child_process';

export { median } from '../../src/bench/stats.js';

/**
 * Wall ms and stdout of `node ARGS` run in `cwd`; throws when the program fails (a benchmark of a
 * failing run means nothing).
 */
export function timed(args: string[], cwd: string): { ms: number; stdout: string } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 26 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { ms, stdout: r.stdout };
}
