import type { CommandModule } from 'yargs';
import { UserError } from '../../util/errors.js';

// Placeholder until the compare command lands; owned by the compare work.
export const compareCommand: CommandModule = {
  command: 'compare',
  describe: 'compare (not yet available)',
  handler: () => { throw new UserError('compare is not available yet'); },
};
