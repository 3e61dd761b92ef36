import fs from 'node:fs';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { openStore, parseDuration, parsePid, parseRange, queryProfile, queryTimeline, type TargetFilter } from '../../store/index.js';
import { queryFormatOf, renderProfileResult, renderTimeline } from '../../store/render.js';
import { weightByStack } from '../../model/index.js';
import { UserError } from '../../util/errors.js';
import { checkWritable, replaceFile } from '../../util/output-file.js';
import { outOption, REPEATABLE, single } from '../options.js';

interface QueryArgs {
  db: string;
  from: string;
  until: string;
  service?: string;
  host?: string;
  pid?: string;
  label?: string[];
  out?: string;
  timeline: boolean;
  step?: string;
}

const QUERY = "The merged profile of a time range from a collector's database (folded stacks on stdout)";

function parseLabels(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new UserError(`bad --label "${v}": give key=value`);
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

export const queryCommand: CommandModule<object, QueryArgs> = {
  command: 'query',
  describe: QUERY,
  builder: (y) =>
    y
      .usage(`$0 query [options]\n\n${QUERY}`)
      .option('db', single({ type: 'string', default: 'stackscope.db', describe: "the collector's SQLite file or postgres:// URL" }))
      .option('from', single({ type: 'string', default: '-15m', describe: 'start: now, -15m, -2h, -7d, an ISO date, or epoch seconds' }))
      .option('until', single({ type: 'string', default: 'now', describe: 'end (excluded), same forms' }))
      .option('service', single({ type: 'string', describe: 'only targets of this service' }))
      .option('host', single({ type: 'string', describe: "only targets on this host (the agent's hostname)" }))
      .option(
        'pid',
        single({
          type: 'string',
          describe: 'only the process with this pid (as its agent reported it; a restarted agent is a new process with its own pid)',
        }),
      )
      .option('label', { ...REPEATABLE, describe: 'only targets with this label, key=value (repeatable: all must match)' })
      .option('out', outOption('write to a file instead of stdout: .folded/.txt, .pb.gz (pprof) or .json'))
      .option('timeline', { type: 'boolean', default: false, describe: 'print samples per time step instead of the profile' })
      .option(
        'step',
        single({ type: 'string', describe: 'with --timeline: the step (default: chosen for the range, e.g. 10s for 15 minutes)' }),
      )
      .example('$0 query --from -15m | flamegraph.pl > cpu.svg', 'the last 15 minutes of every target as a flamegraph')
      .example('$0 query --db postgres://stackscope@db/profiles --service api --from -24h -o api.pb.gz', 'a day of one service, as pprof')
      .example('$0 query --timeline --from -1h --label region=eu', 'samples per 10 s over the last hour')
      .example('$0 query --host web-3 --pid 4242 --from -1h', 'one process'),
  handler: async (argv) => {
    const { fromMs, untilMs } = parseRange(argv.from, argv.until);
    const filter: TargetFilter = {
      service: argv.service,
      host: argv.host,
      ...(argv.pid !== undefined ? { pid: parsePid(argv.pid, '--pid') } : {}),
      labels: parseLabels(argv.label ?? []),
    };
    const stepMs = argv.step !== undefined ? parseDuration(argv.step, '--step') : undefined;
    if (stepMs !== undefined && (stepMs < 1000 || stepMs % 1000 !== 0))
      throw new UserError(`bad --step "${argv.step}": a whole number of seconds`);
    if (argv.step !== undefined && !argv.timeline) throw new UserError('--step goes with --timeline');
    if (argv.out !== undefined) checkWritable(path.resolve(argv.out), 'query result', argv.out);
    const store = await openStore(argv.db);
    let body: Buffer;
    let said: string;
    let notes: string[];
    try {
      if (argv.timeline) {
        const t = await queryTimeline(store, { fromMs, untilMs, ...filter, stepMs });
        body = renderTimeline(t, argv.out?.toLowerCase().endsWith('.json') ? 'json' : 'text');
        notes = t.notes;
        said = `${t.points.reduce((a, p) => a + p.samples, 0)} samples in ${t.points.length} steps of ${t.stepMs / 1000} s`;
      } else {
        const r = await queryProfile(store, { fromMs, untilMs, ...filter });
        const format = queryFormatOf(argv.out);
        body = renderProfileResult(r, format);
        notes = r.notes;
        said = `${r.samples} samples in ${weightByStack(r.profile).size} stacks from ${r.targets.length} target run${r.targets.length === 1 ? '' : 's'}`;
        if (r.samples === 0) notes = [...notes, 'no samples in this range for these targets'];
      }
    } finally {
      await store.close();
    }
    for (const n of notes) process.stderr.write(`stackscope: note: ${n}\n`);
    if (argv.out === undefined) {
      process.stdout.write(body);
      return;
    }
    replaceFile(path.resolve(argv.out), (tmp) => fs.writeFileSync(tmp, body));
    process.stderr.write(`stackscope: ${said}, ${new Date(fromMs).toISOString()} to ${new Date(untilMs).toISOString()} → ${argv.out}\n`);
  },
};
