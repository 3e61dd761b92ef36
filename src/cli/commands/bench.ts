import type { CommandModule } from 'yargs';
import { UserError } from '../../util/errors.js';

// Placeholder until the bench command lands; owned by the bench work.
export const benchCommand: CommandModule = {
  command: 'bench',
  describe: 'bench (not yet available)',
  handler: () => { throw new UserError('bench is not available yet'); },
};
