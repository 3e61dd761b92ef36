import path from 'node:path';
import type { CommandModule } from 'yargs';
import { UserError } from '../../util/errors.js';
import { checkWritable, reason, replaceFile } from '../../util/output-file.js';
import { MAX_TIMER_S, parseInterval, parseSeconds, resolveOutput } from '../../sample/options.js';
import { attachAndProfile, checkTarget, type AttachResult } from '../../sample/attach.js';
import { samplesSaid, writeProfile } from '../../sample/output.js';
import { JSON_SUMMARY, outOption, single } from '../options.js';
import { statusLine } from '../progress.js';

interface AttachArgs {
  pid?: string;
  duration: string;
  interval: string;
  out?: string;
  format?: string;
  json: boolean;
}

const ATTACH = 'Sample a running Node process through its inspector (SIGUSR1), then close it';

export const attachCommand: CommandModule<object, AttachArgs> = {
  command: 'attach [pid]',
  describe: ATTACH,
  builder: (y) =>
    y
      .usage(`$0 attach <pid> [options]\n\n${ATTACH}`)
      .positional('pid', { type: 'string', describe: 'process id of a running Node process' })
      .option(
        'duration',
        single({
          type: 'string',
          default: '10',
          describe: 'seconds to sample (Ctrl-C or SIGTERM/SIGHUP stops early and keeps what was sampled)',
        }),
      )
      .option('interval', single({ type: 'string', default: '1ms', describe: 'sampling interval, 50us to 1s (e.g. 1ms, 500us)' }))
      .option('out', outOption('output file (default profile.cpuprofile; format from .json, .cpuprofile, .folded/.txt, .pb.gz)'))
      .option('format', single({ type: 'string', describe: 'trace | cpuprofile | folded | pprof (default: from the -o extension)' }))
      .option('json', { ...JSON_SUMMARY, describe: 'print the summary as one JSON line on stderr, like trace and sample' })
      .example('$0 attach 12345 --duration 30 -o prod.folded', 'sample PID 12345 for 30 s, write folded stacks')
      .example('$0 attach $(pgrep -n node) -o cpu.pb.gz --json', 'pprof of the newest node process; JSON summary on stderr'),
  handler: async (argv) => {
    try {
      await attach(argv);
    } catch (err) {
      // With --json every outcome is one JSON line, failures included.
      if (!argv.json || !(err instanceof UserError)) throw err;
      const pid = argv.pid === undefined ? null : /^\d+$/.test(argv.pid) ? Number(argv.pid) : argv.pid;
      process.stderr.write(JSON.stringify({ profile: null, pid, error: err.message }) + '\n');
      process.exitCode = err.exitCode;
    }
  },
};

async function attach(argv: AttachArgs): Promise<void> {
  if (argv.pid === undefined) throw new UserError('missing PID: stackscope attach <pid> [--duration S] [-o FILE]');
  if (!/^\d+$/.test(argv.pid)) throw new UserError(`bad PID "${argv.pid}": give a process id`);
  const pid = Number(argv.pid);
  const durationS = parseSeconds(argv.duration, 'duration', MAX_TIMER_S);
  const intervalUs = parseInterval(argv.interval);
  const { file, format } = resolveOutput(argv.out, argv.format);
  // Found out now, not after seconds of sampling.
  checkWritable(path.resolve(file), 'profile', file);
  checkTarget(pid); // (attachAndProfile checks again) so that no countdown starts for a PID that cannot be sampled
  const progress = countdown(pid, durationS);
  let r: AttachResult;
  try {
    r = await attachAndProfile({ pid, durationS, intervalUs });
  } finally {
    progress.end();
  }
  const samples = r.profile?.samples?.length ?? 0;
  const seconds = r.profile ? (r.profile.endTime - r.profile.startTime) / 1e6 : 0;
  const profile = r.profile;
  let writeError: string | undefined;
  if (profile) {
    const metadata = { attachedPid: pid, ...(r.failure ? { partial: `${r.failure} ${r.elapsedS.toFixed(1)} s into sampling` } : {}) };
    try {
      replaceFile(path.resolve(file), (tmp) =>
        writeProfile(tmp, profile, format, { pid, intervalUs, startEpochMs: r.startEpochMs, metadata }),
      );
    } catch (err) {
      writeError = `cannot write the profile to ${file} (${reason(err, path.resolve(file))}); ${samples} samples of PID ${pid} lost`;
    }
  }
  const written = profile !== null && writeError === undefined;
  const inspector = r.inspectorWasOpen ? 'was-open' : r.closed ? 'closed' : 'left-open';
  const leftOpen = inspector === 'left-open' ? `; warning: the inspector still listens on port ${r.port}` : '';
  const failure =
    r.failure === undefined
      ? undefined
      : written
        ? `partial profile: ${r.failure} ${r.elapsedS.toFixed(1)} s into sampling; ${samples} samples of the first ${+seconds.toFixed(1)} s → ${file} (${format})`
        : `${r.failure} ${r.elapsedS.toFixed(1)} s into sampling, ${profile ? 'and' : 'before the first samples were fetched;'} no profile written`;
  const error = writeError ?? failure;
  if (argv.json) {
    process.stderr.write(
      JSON.stringify({
        profile: written ? file : null,
        format,
        pid,
        samples,
        seconds,
        intervalUs,
        interrupted: r.interrupted ?? null,
        inspector,
        port: r.port,
        partial: r.failure !== undefined,
        error: error === undefined ? null : error + leftOpen,
      }) + '\n',
    );
    if (error !== undefined) process.exitCode = 1;
    return;
  }
  if (error !== undefined) throw new UserError(error + leftOpen, 1);
  const said =
    inspector === 'was-open'
      ? 'its inspector was already open and stays open'
      : inspector === 'closed'
        ? 'inspector closed again'
        : `warning: the inspector still listens on port ${r.port}`;
  // A signal stops sampling early (attach.ts): say so, and how long was really sampled.
  const secs = r.interrupted ? `${+seconds.toFixed(1)} s (stopped early by ${r.interrupted})` : `${durationS} s`;
  process.stderr.write(
    `stackscope: ${profile ? samplesSaid(profile, format) : `${samples} samples`} of PID ${pid} over ${secs} → ${file} (${format}); ${said}\n`,
  );
}

/** On a terminal, a line that counts the sampling seconds (attach waits silently otherwise). */
function countdown(pid: number, durationS: number, stream: NodeJS.WriteStream = process.stderr): { end(): void } {
  const line = durationS < 2 ? undefined : statusLine(stream, 0, 0);
  if (!line) return { end() {} };
  const t0 = Date.now();
  const draw = () =>
    line.show(
      `stackscope: sampling PID ${pid}… ${Math.min(durationS, Math.floor((Date.now() - t0) / 1000))}/${durationS} s (Ctrl-C stops early)`,
    );
  draw();
  const timer = setInterval(draw, 1000);
  timer.unref();
  return {
    end() {
      clearInterval(timer);
      line.end();
    },
  };
}
