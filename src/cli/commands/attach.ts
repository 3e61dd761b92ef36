import type { CommandModule } from 'yargs';
import { UserError } from '../../util/errors.js';

// Placeholder until the attach command lands; owned by the attach work.
export const attachCommand: CommandModule = {
  command: 'attach',
  describe: 'attach (not yet available)',
  handler: () => { throw new UserError('attach is not available yet'); },
};
