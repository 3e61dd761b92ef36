import path from 'node:path';
import type { CommandModule } from 'yargs';
import { UserError } from '../../util/errors.js';
import { checkWritable, replaceFile } from '../../util/output-file.js';
import { MAX_TIMER_S, parseInterval, parseSeconds, resolveOutput } from '../../sample/options.js';
import { attachAndProfile, checkTarget, type AttachResult } from '../../sample/attach.js';
import { writeProfile } from '../../sample/output.js';
import { JSON_SUMMARY, outOption, single } from '../options.js';

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
  builder: (y) => y
    .usage(`$0 attach <pid> [options]\n\n${ATTACH}`)
    .positional('pid', { type: 'string', describe: 'process id of a running Node process' })
    .option('duration', single({ type: 'string', default: '10', describe: 'seconds to sample (Ctrl-C stops early and keeps what was sampled)' }))
    .option('interval', single({ type: 'string', default: '1ms', describe: 'sampling interval, 50us to 1s (e.g. 1ms, 500us)' }))
    .option('out', outOption('output file (default profile.cpuprofile; format from .json, .cpuprofile, .folded/.txt, .pb.gz)'))
    .option('format', single({ type: 'string', describe: 'trace | cpuprofile | folded | pprof (default: from the -o extension)' }))
    .option('json', { ...JSON_SUMMARY, describe: 'print the summary as one JSON line on stderr, like trace and sample' })
    .example('$0 attach 12345 --duration 30 -o prod.folded', 'sample PID 12345 for 30 s, write folded stacks')
    .example('$0 attach $(pgrep -n node) -o cpu.pb.gz --json', 'pprof of the newest node process; JSON summary on stderr'),
  handler: async (argv) => {
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
    replaceFile(path.resolve(file), (tmp) => writeProfile(tmp, r.profile, format, { pid, intervalUs, startEpochMs: r.startEpochMs, metadata: { attachedPid: pid } }));
    const samples = r.profile.samples?.length ?? 0;
    const seconds = (r.profile.endTime - r.profile.startTime) / 1e6;
    const inspector = r.inspectorWasOpen ? 'was-open' : r.closed ? 'closed' : 'left-open';
    if (argv.json) {
      process.stderr.write(JSON.stringify({ profile: file, format, pid, samples, seconds, intervalUs, interrupted: r.interrupted ?? null, inspector, port: r.port }) + '\n');
      return;
    }
    const said = inspector === 'was-open' ? 'its inspector was already open and stays open' : inspector === 'closed' ? 'inspector closed again' : `warning: the inspector still listens on port ${r.port}`;
    // Ctrl-C stops sampling early (attach.ts): say so, and how long was really sampled.
    const secs = r.interrupted ? `${+seconds.toFixed(1)} s (stopped early by ${r.interrupted})` : `${durationS} s`;
    process.stderr.write(`stackscope: ${samples} samples of PID ${pid} over ${secs} → ${file} (${format}); ${said}\n`);
  },
};

/** On a terminal, a line that counts the sampling seconds (attach waits silently otherwise). */
function countdown(pid: number, durationS: number, stream: NodeJS.WriteStream = process.stderr): { end(): void } {
  if (!stream.isTTY || durationS < 2) return { end() {} };
  const t0 = Date.now();
  const draw = () => stream.write(`\r\x1b[Kstackscope: sampling PID ${pid}… ${Math.min(durationS, Math.floor((Date.now() - t0) / 1000))}/${durationS} s (Ctrl-C stops early)`);
  draw();
  const timer = setInterval(draw, 1000);
  timer.unref();
  return { end() { clearInterval(timer); stream.write('\r\x1b[K'); } };
}
