/**
 * Output files of a bench: traces (one per strategy plus a combined one with the strategies
 * aligned one above the other), CPU profiles and folded stacks per strategy, and differential
 * folded stacks (flamegraph's difffolded.pl format) between strategies. Each file is created
 * exclusively beside its name and renamed into place: a link planted there is not followed.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ProcessRecording, ThreadRecording } from '../recorder/protocol.js';
import { TraceSamples, type ThreadSamplesFile } from '../trace/index.js';
import { writeCpuProfile, type CpuProfile } from '../formats/cpuprofile.js';
import { formatFolded, parseFolded, type FoldedStacks } from '../formats/folded.js';
import type { ChildFiles } from './protocol.js';
import type { TracedRun } from './observe.js';
import { UserError } from '../util/errors.js';
import { probeFolder, replaceFile, writeFileReplacing } from '../util/output-file.js';

/**
 * Creates the output folder, or says in one line why it cannot be written; returns its absolute
 * path. Not `mkdirSync(dir, { recursive: true })`: on Linux that never returns for a path under
 * /proc (mkdir there gives ENOENT although the parent exists, and Node's recursive mkdir retries
 * the parent forever). So: find the nearest existing ancestor, create the missing levels one at
 * a time, and prove the folder writable by creating a file in it (root passes `access(W_OK)` even
 * where nothing can be written).
 */
export function prepareOutDir(dir: string): string {
  const abs = path.resolve(dir);
  const why = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  const fail = (reason: string) => new UserError(`cannot write outputs to ${dir} (${reason})`);
  const missing: string[] = [];
  let at = abs;
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(at, { throwIfNoEntry: false });
    } catch (err) {
      if (why(err) !== 'ENOTDIR') throw fail(`${at}: ${why(err)}`); // ENOTDIR: some ancestor is a file, found further up
    }
    if (st) {
      if (!st.isDirectory()) throw fail(`${at} is not a folder`);
      break;
    }
    missing.unshift(at);
    if (path.dirname(at) === at) break;
    at = path.dirname(at);
  }
  for (const level of missing) {
    try {
      fs.mkdirSync(level);
    } catch (err) {
      throw fail(`cannot create ${level}: ${why(err)}`);
    }
  }
  try {
    probeFolder(abs);
  } catch (err) {
    throw fail(`cannot write in it: ${why(err)}`);
  }
  return abs;
}

/** A strategy name as a file name: readable, and safe on every OS. */
export function fileStem(strategy: string): string {
  return strategy.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '') || 'strategy';
}

type WriteTrace = (outPath: string, processes: ProcessRecording[], opts?: Record<string, unknown>) => unknown;

async function loadWriteTrace(): Promise<WriteTrace> {
  // The tracer's trace builder owns the ThreadRecording -> trace-event mapping (async lanes,
  // flows, Node events); resolved at run time so bench builds without it.
  const spec = new URL('../trace/build.js', import.meta.url).href;
  const mod = (await import(spec)) as { writeTrace?: WriteTrace };
  if (typeof mod.writeTrace !== 'function') throw new Error('the trace builder has no writeTrace');
  return mod.writeTrace;
}

export async function writeTraceOutputs(
  dir: string,
  runs: [string, TracedRun][],
  meta: Record<string, unknown> = {},
  runMs: (strategy: string) => number | undefined = () => undefined,
): Promise<ChildFiles> {
  prepareOutDir(dir);
  const writeTrace = await loadWriteTrace();
  // `--mode trace --sample`: each run's samples under its slices (see trace/samples.ts).
  const samplesOf = (list: [string, TracedRun][]) =>
    list.some(([, r]) => r.samples)
      ? {
          samples: new TraceSamples(
            list.flatMap(([, r]) => (r.samples ? [[r.rec, r.samples] as [ThreadRecording, ThreadSamplesFile]] : [])),
            process.cwd(),
          ),
        }
      : {};
  const traces: Record<string, string> = {};
  const procs: ProcessRecording[] = [];
  // All strategies ran in this process, on one clock: shifting each run's start onto the first
  // one's makes DevTools show them starting together, one process row per strategy.
  const base = Math.min(...runs.map(([, r]) => r.startUs));
  runs.forEach(([name, run], i) => {
    const file = path.join(dir, `${fileStem(name)}.trace.json`);
    const about = { strategy: name, runMs: runMs(name), run: 'the measured run closest to the running median (see Keeper)' };
    replaceFile(file, (tmp) =>
      writeTrace(tmp, [{ pid: i + 1, name, threads: [run.rec] }], { metadata: { ...meta, ...about }, ...samplesOf([[name, run]]) }),
    );
    traces[name] = file;
    procs.push({ pid: i + 1, name, threads: [run.rec], shiftUs: base - run.startUs });
  });
  const combinedTrace = path.join(dir, 'compare.trace.json');
  replaceFile(combinedTrace, (tmp) =>
    writeTrace(tmp, procs, {
      metadata: {
        ...meta,
        strategies: Object.fromEntries(runs.map(([name]) => [name, { runMs: runMs(name) }])),
        layout: 'one process per strategy; each shows its measured run closest to the running median, shifted to start with the others',
      },
      ...samplesOf(runs),
    }),
  );
  return { traces, combinedTrace };
}

export function writeSampleOutputs(dir: string, profiles: [string, CpuProfile][], foldedBy: Map<string, FoldedStacks>): ChildFiles {
  prepareOutDir(dir);
  const cpuprofiles: Record<string, string> = {};
  const folded: Record<string, string> = {};
  for (const [name, profile] of profiles) {
    const stem = path.join(dir, fileStem(name));
    replaceFile(`${stem}.cpuprofile`, (tmp) => writeCpuProfile(tmp, profile));
    cpuprofiles[name] = `${stem}.cpuprofile`;
    writeFileReplacing(`${stem}.folded`, formatFolded(foldedBy.get(name) ?? new Map()));
    folded[name] = `${stem}.folded`;
  }
  return { cpuprofiles, folded };
}

/**
 * difffolded.pl output: `stack count1 count2` per stack present in either input, so
 * `flamegraph.pl` draws the second profile coloured by the change from the first.
 */
export function formatDiffFolded(before: FoldedStacks, after: FoldedStacks): string {
  const keys = new Set([...before.keys(), ...after.keys()]);
  const rows = [...keys].map((k) => [k, Math.round(before.get(k) ?? 0), Math.round(after.get(k) ?? 0)] as const);
  rows.sort((a, b) => b[1] + b[2] - (a[1] + a[2]) || (a[0] < b[0] ? -1 : 1));
  return rows.map(([k, a, b]) => `${k} ${a} ${b}`).join('\n') + (rows.length ? '\n' : '');
}

/** Writes `diff.<base>.<other>.folded` for every strategy against the baseline (the fastest). */
export function writeDiffFolded(dir: string, folded: Record<string, string>, baseline: string): Record<string, string> {
  const out: Record<string, string> = {};
  const baseFile = folded[baseline];
  if (!baseFile) return out;
  const base = parseFolded(fs.readFileSync(baseFile, 'utf8'));
  for (const [name, file] of Object.entries(folded)) {
    if (name === baseline) continue;
    const target = path.join(dir, `diff.${fileStem(baseline)}.${fileStem(name)}.folded`);
    writeFileReplacing(target, formatDiffFolded(base, parseFolded(fs.readFileSync(file, 'utf8'))));
    out[name] = target;
  }
  return out;
}
