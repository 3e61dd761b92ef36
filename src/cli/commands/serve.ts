import type { CommandModule } from 'yargs';
import { collect } from '../../collect/index.js';
import { openStore } from '../../store/index.js';
import { startUi, StoreSource } from '../../ui/index.js';
import { UserError } from '../../util/errors.js';
import { single } from '../options.js';
import { collectOptionsOf, withCollectOptions, type CollectArgs } from './collect.js';
import { runUntilStopped } from '../stop.js';

interface ServeArgs extends CollectArgs {
  listen: string;
  port: number;
  'page-token'?: string;
}

const SERVE = 'Collect from agents and serve the page over what is collected, in one process (the one-machine case)';

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve',
  describe: SERVE,
  builder: (y) =>
    withCollectOptions(y.usage(`$0 serve [options]\n\n${SERVE}`))
      .option(
        'listen',
        single({ type: 'string', default: '127.0.0.1', describe: "the page's address (other than loopback only with --page-token)" }),
      )
      .option('port', single({ type: 'number', default: 9470, describe: "the page's port (0: any free port)" }))
      .option('page-token', single({ type: 'string', describe: 'required on every request to the page (open /?token=… once)' }))
      .example('$0 serve --target localhost:9464', 'collect one agent into ./stackscope.db and show it at http://127.0.0.1:9470/')
      .example('$0 serve --host 127.0.0.1 --ports 9000-9003 --retention 1d', 'four workers on this machine, a day kept')
      .epilogue('Stops on Ctrl-C or SIGTERM after writing what it read. Run `collect` and `ui` apart for a fleet.') as never,
  handler: async (argv) => {
    const opts = collectOptionsOf(argv);
    if (!Number.isInteger(argv.port) || argv.port < 0 || argv.port > 65535) throw new UserError(`bad --port ${argv.port}: 0 to 65535`);
    // The store is created (schema included) before the page opens it and the collector writes to it.
    await (await openStore(opts.db, { create: true })).close();
    const ui = await startUi({ store: await StoreSource.open(opts.db), host: argv.listen, port: argv.port, token: argv['page-token'] });
    process.stderr.write(`stackscope: the page is at ${ui.url}${argv['page-token'] ? ' (open it once with ?token=…)' : ''}\n`);
    try {
      await runUntilStopped((signal) => collect({ ...opts, signal }));
    } finally {
      await ui.close();
    }
  },
};
