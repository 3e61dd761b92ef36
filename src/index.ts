// Public library API: everything the CLI does is available from here.
export { frameLabel, displayPath, type FunctionInfo } from './model/frame.js';
export { UserError } from './util/errors.js';
