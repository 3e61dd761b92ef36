/**
 * `stackscope sample -- script [args]`: runs the script in a child Node process with the profiling
 * preload, then writes the profile in the chosen format. The child's stdio is inherited untouched;
 * stackscope's own line goes to stderr after the program ends, and the caller exits as the program did.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { UserError, oneLine, scriptNotFound } from '../util/errors.js';
import { checkWritable, replaceFile } from '../util/output-file.js';
import { samplesSaid, writeProfile } from './output.js';
import type { ProfileFormat } from './options.js';
import { SAMPLE_ENV, type SampleJob, type SampledRun } from './protocol.js';
import { childEnv } from '../util/child-env.js';

export interface SampleRunOptions {
  script: string;
  args?: string[];
  intervalUs?: number;
  durationS?: number;
  output: string;
  format: ProfileFormat;
  /** extra node flags for the child */
  nodeArgs?: string[];
  cwd?: string;
}

export interface SampleRunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** one line for stderr: what was written, or why nothing was */
  summary: string;
  samples: number;
  /** the file written; undefined when no profile was (the program ended before it could be) */
  output?: string;
  /** seconds sampled */
  seconds?: number;
  intervalUs: number;
}

const TS_EXT = /\.(ts|mts|cts|tsx)$/i;

export async function runSampled(opts: SampleRunOptions): Promise<SampleRunResult> {
  const cwd = opts.cwd ?? process.cwd();
  const scriptPath = path.resolve(cwd, opts.script);
  const st = fs.statSync(scriptPath, { throwIfNoEntry: false });
  if (!st) throw scriptNotFound('sample', opts.script);
  if (!st.isFile()) throw new UserError(`script is ${st.isDirectory() ? 'a folder' : 'not a file'}: ${opts.script}`);
  // Found out now, not after the program has run and its profile has nowhere to go.
  const output = path.resolve(cwd, opts.output);
  checkWritable(output, 'profile', opts.output);
  const intervalUs = opts.intervalUs ?? 1000;
  const preload = new URL(`./run-preload${path.extname(new URL(import.meta.url).pathname)}`, import.meta.url).href;
  const tsx = TS_EXT.test(scriptPath) ? ['--import', import.meta.resolve('tsx')] : [];
  // The profile comes back through a file in a folder of our own (mode 0700): no one else can plant a link there.
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackscope-sample-'));
  const tmp = path.join(tmpDir, 'profile.json');
  const job: SampleJob = { out: tmp, intervalUs, durationS: opts.durationS ?? 0 };

  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', preload, ...tsx, scriptPath, ...(opts.args ?? [])], {
    cwd,
    stdio: 'inherit',
    env: { ...process.env, ...childEnv(SAMPLE_ENV, job) },
  });

  // Ctrl-C reaches the whole process group: let the program decide what it means and report after.
  // Signals sent to stackscope alone are passed on.
  const ignore = (): void => {};
  const forward = (sig: NodeJS.Signals) => (): void => {
    child.kill(sig);
  };
  const handlers: Array<[NodeJS.Signals, () => void]> = [
    ['SIGINT', ignore],
    ['SIGTERM', forward('SIGTERM')],
    ['SIGHUP', forward('SIGHUP')],
  ];
  for (const [s, h] of handlers) process.on(s, h);

  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c, s) => resolve({ code: c, signal: s }));
  }).finally(() => {
    for (const [s, h] of handlers) process.removeListener(s, h);
  });

  let run: SampledRun;
  try {
    run = JSON.parse(fs.readFileSync(tmp, 'utf8')) as SampledRun;
  } catch {
    return {
      code,
      signal,
      samples: 0,
      intervalUs,
      summary: `no profile: the program ended${signal ? ` by ${signal}` : ''} before it could be written`,
    };
  } finally {
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }
  const { profile } = run;
  try {
    replaceFile(output, (file) =>
      writeProfile(file, profile, opts.format, {
        pid: run.pid,
        intervalUs: run.intervalUs,
        startEpochMs: run.startEpochMs,
        cwd,
        metadata: { script: opts.script, intervalUs: run.intervalUs },
      }),
    );
  } catch (err) {
    // The program has run: its exit status still comes through, with the reason on the summary line.
    return { code, signal, samples: 0, intervalUs, summary: `could not write the profile to ${opts.output}: ${oneLine(err)}` };
  }
  const samples = profile.samples?.length ?? 0;
  const seconds = (profile.endTime - profile.startTime) / 1e6;
  return {
    code,
    signal,
    samples,
    output: opts.output,
    seconds,
    intervalUs,
    summary: `${samplesSaid(profile, opts.format)} over ${seconds.toFixed(2)} s every ${intervalUs / 1000} ms → ${opts.output} (${opts.format})`,
  };
}
