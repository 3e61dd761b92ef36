import type { CommandModule } from 'yargs';
import { UserError } from '../../util/errors.js';
import { parseInterval, parseSeconds, resolveOutput } from '../../sample/options.js';
import { attachAndProfile } from '../../sample/attach.js';
import { writeProfile } from '../../sample/output.js';

interface AttachArgs {
  pid?: string;
  duration: string;
  interval: string;
  output?: string;
  format?: string;
}

export const attachCommand: CommandModule<object, AttachArgs> = {
  command: 'attach [pid]',
  describe: 'Profile a running Node process (opens its inspector with SIGUSR1, samples, closes it again)',
  builder: (y) => y
    .positional('pid', { type: 'string', describe: 'process id of a running Node process' })
    .option('duration', { type: 'string', default: '10', describe: 'seconds to sample' })
    .option('interval', { type: 'string', default: '1ms', describe: 'sampling interval (e.g. 1ms, 500us)' })
    .option('output', { alias: 'o', type: 'string', describe: 'output file (format inferred from .json, .cpuprofile, .folded/.txt, .pb.gz)' })
    .option('format', { type: 'string', describe: 'trace | cpuprofile | folded | pprof' }),
  handler: async (argv) => {
    if (argv.pid === undefined) throw new UserError('missing PID: stackscope attach PID [--duration S] [-o FILE]');
    if (!/^\d+$/.test(argv.pid)) throw new UserError(`bad PID "${argv.pid}": give a process id`);
    const durationS = parseSeconds(argv.duration);
    const intervalUs = parseInterval(argv.interval);
    const { file, format } = resolveOutput(argv.output, argv.format);
    const r = await attachAndProfile({ pid: Number(argv.pid), durationS, intervalUs });
    writeProfile(file, r.profile, format, { pid: Number(argv.pid), intervalUs, startEpochMs: r.startEpochMs, metadata: { attachedPid: Number(argv.pid) } });
    const n = r.profile.samples?.length ?? 0;
    const inspector = r.inspectorWasOpen ? 'its inspector was already open and stays open' : r.closed ? 'inspector closed again' : `warning: the inspector still listens on port ${r.port}`;
    // Ctrl-C stops sampling early (attach.ts): say so, and how long was really sampled.
    const secs = r.interrupted ? `${+((r.profile.endTime - r.profile.startTime) / 1e6).toFixed(1)} s (stopped early by ${r.interrupted})` : `${durationS} s`;
    process.stderr.write(`stackscope: ${n} samples of PID ${argv.pid} over ${secs} → ${file} (${format}); ${inspector}\n`);
  },
};
