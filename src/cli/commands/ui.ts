import path from 'node:path';
import type { CommandModule } from 'yargs';
import { readProfile } from '../../formats/read.js';
import { DEFAULT_MAX_UPLOAD, FileSource, startUi, StoreSource } from '../../ui/index.js';
import { UserError } from '../../util/errors.js';
import { single } from '../options.js';
import { runUntilStopped, stopped } from '../stop.js';

interface UiArgs {
  files?: string[];
  db?: string;
  host: string;
  port: number;
  token?: string;
  'max-upload': number;
}

const UI = "A web page of flamegraphs: a collector's store over time (--db), or profile files";

export const uiCommand: CommandModule<object, UiArgs> = {
  command: 'ui [files..]',
  describe: UI,
  builder: (y) =>
    y
      .usage(`$0 ui [files..] [options]\n\n${UI}`)
      .positional('files', {
        type: 'string',
        array: true,
        describe: 'trace.json, .cpuprofile, folded or .pb.gz files to show (more can be dropped on the page)',
      })
      .option('db', single({ type: 'string', describe: "a collector's SQLite file or postgres:// URL" }))
      .option(
        'host',
        single({ type: 'string', default: '127.0.0.1', describe: 'address to listen on (other than loopback only with --token)' }),
      )
      .option('port', single({ type: 'number', default: 9470, describe: 'port (0: any free port)' }))
      .option(
        'token',
        single({ type: 'string', describe: 'required on every request (open /?token=… once in the browser); also STACKSCOPE_TOKEN' }),
      )
      .option(
        'max-upload',
        single({ type: 'number', default: DEFAULT_MAX_UPLOAD / 1048576, describe: 'largest file that can be dropped on the page, MiB' }),
      )
      .example('$0 ui --db stackscope.db', "the fleet's flamegraph of any time range, at http://127.0.0.1:9470/")
      .example('$0 ui profile.cpuprofile trace.json', 'local profiles in the same views')
      .epilogue('Stops on Ctrl-C or SIGTERM.'),
  handler: async (argv) => {
    const files = argv.files ?? [];
    if (argv.db === '') throw new UserError('--db is empty: give an SQLite file or a postgres:// URL');
    if (!Number.isInteger(argv.port) || argv.port < 0 || argv.port > 65535) throw new UserError(`bad --port ${argv.port}: 0 to 65535`);
    if (!(argv['max-upload'] > 0)) throw new UserError(`bad --max-upload ${argv['max-upload']}: a size in MiB above 0`);
    const local = new FileSource();
    files.forEach((f, i) => local.addRead(`f${i + 1}`, path.basename(f), readProfile(f)));
    const store = argv.db !== undefined ? await StoreSource.open(argv.db) : undefined;
    const ui = await startUi({
      ...(store ? { store } : {}),
      files: local,
      host: argv.host,
      port: argv.port,
      token: argv.token ?? process.env.STACKSCOPE_TOKEN,
      maxUploadBytes: Math.round(argv['max-upload'] * 1048576),
    });
    process.stderr.write(
      `stackscope: the page is at ${ui.url}${argv.token || process.env.STACKSCOPE_TOKEN ? ' (open it once with ?token=…)' : ''}\n`,
    );
    await runUntilStopped(stopped);
    await ui.close();
  },
};
