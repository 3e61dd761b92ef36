export { defineBench, type BenchDefinition, type Strategy } from './define.js';
export { runBench, DEFAULT_TIMEOUT_S, type RunOptions, type RawResults, type RoundRun } from './runner.js';
export { buildReport, type BenchReport, type StrategyResult, type TimingTable } from './report.js';
export { formatReport } from './format.js';
export { summarize, compareSamples, compareToBaseline, holmAdjust, bootstrapRatioCI, mannWhitneyP, type Comparison } from './stats.js';
export { formatDiffFolded } from './outputs.js';
export type { BenchMode } from './protocol.js';

import { runBench, type RunOptions } from './runner.js';
import { buildReport, type BenchReport } from './report.js';
import { writeDiffFolded } from './outputs.js';

/** Runs a bench file and returns its report (what `stackscope bench` prints). */
export async function bench(opts: RunOptions): Promise<BenchReport> {
  const report = buildReport(await runBench(opts));
  const { folded, dir } = report.outputs;
  if (folded && dir && report.untraced.fastest) {
    report.outputs.diffFolded = writeDiffFolded(dir, folded, report.untraced.fastest);
  }
  return report;
}
