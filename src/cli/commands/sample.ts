import type { CommandModule } from 'yargs';
import { UserError } from '../../util/errors.js';

// Placeholder until the sample command lands; owned by the sample work.
export const sampleCommand: CommandModule = {
  command: 'sample',
  describe: 'sample (not yet available)',
  handler: () => { throw new UserError('sample is not available yet'); },
};
