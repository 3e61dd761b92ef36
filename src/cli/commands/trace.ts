import type { CommandModule } from 'yargs';
import { UserError } from '../../util/errors.js';

// Placeholder until the trace command lands; owned by the trace work.
export const traceCommand: CommandModule = {
  command: 'trace',
  describe: 'trace (not yet available)',
  handler: () => { throw new UserError('trace is not available yet'); },
};
