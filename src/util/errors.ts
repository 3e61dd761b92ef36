/**
 * An error caused by the user's input (bad option, missing file, syntax error in a target module).
 * The CLI prints its message as one line and exits non-zero, without a stack trace.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** One-line rendering of any error for the CLI. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0] ?? '';
}

/** Launchers people type before the script out of habit (`stackscope trace node app.js`). */
const LAUNCHERS = /^(node|nodejs|node\.exe|tsx|ts-node|npx)$/i;

/** The error for a script that does not exist; `command` is the stackscope command that ran. */
export function scriptNotFound(command: string, script: string): UserError {
  const hint = LAUNCHERS.test(script) ? ` (give the script itself: stackscope ${command} app.js; options for node go in --node-arg)` : '';
  return new UserError(`script not found: ${script}${hint}`);
}
