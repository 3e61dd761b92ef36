import type { Argv, CommandModule } from 'yargs';
import { collect, COLLECT_DEFAULTS, parseRetention, resolveTargets, type CollectOptions } from '../../collect/index.js';
import { parseDuration } from '../../store/index.js';
import { UserError } from '../../util/errors.js';
import { REPEATABLE, single } from '../options.js';
import { runUntilStopped } from '../stop.js';

export interface CollectArgs {
  db: string;
  target?: string[];
  'targets-file'?: string;
  host?: string;
  ports?: string;
  interval: string;
  timeout?: string;
  concurrency: number;
  'buffer-rows': number;
  retention?: string[];
  token?: string;
  json: boolean;
}

const COLLECT = 'Poll production agents (/stacks) losslessly into SQLite or PostgreSQL';

function positiveInt(n: number, what: string): number {
  if (!(Number.isInteger(n) && n > 0)) throw new UserError(`${what} must be a positive integer`);
  return n;
}

/** The collector's options, shared by `collect` and `serve`. */
export function withCollectOptions<T>(y: Argv<T>): Argv<T & CollectArgs> {
  return y
    .option(
      'db',
      single({ type: 'string', default: 'stackscope.db', describe: 'an SQLite file (created), or postgres://user@host:port/db' }),
    )
    .option('target', { ...REPEATABLE, describe: "an agent's host:port (repeatable)" })
    .option(
      'targets-file',
      single({ type: 'string', describe: 'one "host:port [label=value …]" a line (# comments); re-read when it changes' }),
    )
    .option('host', single({ type: 'string', describe: 'with --ports: one target per port on this host' }))
    .option('ports', single({ type: 'string', describe: 'with --host: ports like 9000-9015 or 9000,9002' }))
    .option('interval', single({ type: 'string', default: '10s', describe: 'time between polls of a target' }))
    .option('timeout', single({ type: 'string', describe: 'per request (default: the interval, between 1s and 5s)' }))
    .option('concurrency', single({ type: 'number', default: COLLECT_DEFAULTS.concurrency, describe: 'requests in flight at most' }))
    .option(
      'buffer-rows',
      single({
        type: 'number',
        default: COLLECT_DEFAULTS.bufferRows,
        describe: 'rows held in memory at most while the database is down (then polling pauses)',
      }),
    )
    .option('retention', { ...REPEATABLE, describe: 'delete rows older than this: 7d, or per level raw=1d minute=7d 10min=30d hour=90d' })
    .option('token', single({ type: 'string', describe: 'bearer token of the agents (default: $STACKSCOPE_TOKEN)' }))
    .option('json', { type: 'boolean', default: false, describe: 'log one JSON object a line on stderr' }) as unknown as Argv<
    T & CollectArgs
  >;
}

/** The collector's settings from its options; UserError for anything unusable, before a database is opened. */
export function collectOptionsOf(argv: CollectArgs): CollectOptions {
  const intervalMs = parseDuration(argv.interval, '--interval');
  if (intervalMs < 100) throw new UserError(`bad --interval "${argv.interval}": at least 100ms`);
  const timeoutMs = argv.timeout !== undefined ? parseDuration(argv.timeout, '--timeout') : undefined;
  const concurrency = positiveInt(argv.concurrency, '--concurrency');
  const bufferRows = positiveInt(argv['buffer-rows'], '--buffer-rows');
  const retention = parseRetention(argv.retention ?? []);
  const opts: CollectOptions = {
    db: argv.db,
    targets: argv.target,
    targetsFile: argv['targets-file'],
    host: argv.host,
    ports: argv.ports,
    intervalMs,
    timeoutMs,
    concurrency,
    bufferRows,
    retention,
    token: argv.token ?? process.env.STACKSCOPE_TOKEN,
    json: argv.json,
  };
  resolveTargets(opts); // bad targets are reported before the database is opened
  if (!argv.db) throw new UserError('--db is empty: give an SQLite file or a postgres:// URL');
  return opts;
}

export const collectCommand: CommandModule<object, CollectArgs> = {
  command: 'collect',
  describe: COLLECT,
  builder: (y) =>
    withCollectOptions(y.usage(`$0 collect [options]\n\n${COLLECT}`))
      .example('$0 collect --target 127.0.0.1:9464', 'one agent into ./stackscope.db')
      .example('$0 collect --host 10.0.0.5 --ports 9000-9015 --retention 7d', 'one worker per port, a week kept')
      .example('$0 collect --targets-file fleet.txt --db postgres://stackscope@db/profiles', 'a fleet into PostgreSQL')
      .epilogue(
        'Stops on Ctrl-C or SIGTERM after writing what it read. A collector killed at any moment resumes from the\n' +
          'cursors stored with the data: no window is lost or counted twice (as long as the agents still hold it).',
      ),
  handler: async (argv) => {
    const opts = collectOptionsOf(argv);
    await runUntilStopped((signal) => collect({ ...opts, signal }));
  },
};
