/**
 * Output files of trace, sample and attach: checked before the work that fills them (a program run,
 * seconds of sampling), and replaced only by a complete new file, so that a failed run never costs
 * the user the file an earlier run wrote.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.js';

/**
 * Throws a one-line UserError unless `file` can be written. Opens it for append, which changes
 * nothing in an existing file and is the truest test of "writable" (root passes access(W_OK)
 * where nothing can be written); a file created by the test is removed again.
 */
export function checkWritable(file: string, what: string, shown = file): void {
  if (shown.trim() === '') throw new UserError(`no file name given for the ${what} (-o is empty)`);
  const existed = fs.existsSync(file);
  try {
    fs.closeSync(fs.openSync(file, 'a'));
  } catch (err) {
    throw new UserError(`cannot write the ${what} to ${shown} (${reason(err, file)})`);
  }
  if (!existed) fs.rmSync(file, { force: true });
}

function reason(err: unknown, file: string): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'EISDIR') return 'EISDIR: it is a folder; give a file name';
  if (code === 'ENOENT' && !fs.existsSync(path.dirname(file))) return `ENOENT: no folder ${path.dirname(file)}`;
  if (code === 'EACCES' || code === 'EPERM') return `${code}: permission denied`;
  return code || (err instanceof Error ? err.message.split('\n')[0]! : String(err));
}

/**
 * Writes `file` through `write(tmp)` into a temporary file beside it, then renames that over
 * `file`: an existing file is replaced by a complete new one or not at all. (Where the folder
 * takes no new files but the file itself is writable, it is written in place.)
 */
export function replaceFile<T>(file: string, write: (tmp: string) => T): T {
  try {
    fs.accessSync(path.dirname(file), fs.constants.W_OK);
  } catch {
    return write(file);
  }
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    const result = write(tmp);
    fs.renameSync(tmp, file);
    return result;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
