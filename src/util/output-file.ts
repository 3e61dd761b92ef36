/**
 * Every file stackscope writes goes through here: output files of trace, sample, attach and bench,
 * thread dumps, and the instrumenter's cache. The rules, so that nobody can turn a write by
 * stackscope (often run as root) against a file they could not touch themselves:
 * - a new file is created exclusively (O_CREAT | O_EXCL | O_NOFOLLOW) under an unpredictable
 *   name next to its target, filled, and renamed into place. A symbolic link planted at the
 *   target or at the temporary name is never followed: the link is replaced, not its target.
 * - output files are checked before the work that fills them (a program run, seconds of
 *   sampling), and replaced only by a complete new file, so that a failed run never costs the
 *   user the file an earlier run wrote.
 * - files that are read back and run (cached modules) are trusted only in a folder and as a file
 *   owned by the current user and writable by nobody else.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.js';

const { O_CREAT, O_EXCL, O_WRONLY, O_APPEND, O_RDONLY } = fs.constants;
/** 0 where the platform has no O_NOFOLLOW (Windows); O_EXCL alone then refuses an existing link. */
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

/** A new, empty file beside `target`, opened for writing; its name cannot be guessed in advance. */
export function createTempBeside(target: string, mode = 0o666): { fd: number; tmp: string } {
  const dir = path.dirname(target);
  for (let attempt = 0; ; attempt++) {
    const tmp = path.join(dir, `.${path.basename(target)}.${randomBytes(8).toString('hex')}.tmp`);
    try {
      return { fd: fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode), tmp };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 8) throw err;
    }
  }
}

/**
 * Throws a one-line UserError unless `file` can be written, without changing anything at that
 * path: an existing file is opened for append (the truest test of "writable": root passes
 * access(W_OK) where nothing can be written), a symbolic link is not followed (the output will
 * replace the link itself, so the folder must take new files), and a missing file is created
 * exclusively and removed again.
 */
export function checkWritable(file: string, what: string, shown = file): void {
  if (shown.trim() === '') throw new UserError(`no file name given for the ${what} (-o is empty)`);
  try {
    const st = fs.lstatSync(file, { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) {
      probeFolder(path.dirname(file));
    } else if (st) {
      fs.closeSync(fs.openSync(file, O_WRONLY | O_APPEND | O_NOFOLLOW));
    } else {
      fs.closeSync(fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o666));
      fs.rmSync(file, { force: true });
    }
  } catch (err) {
    throw new UserError(`cannot write the ${what} to ${shown} (${reason(err, file)})`);
  }
}

/** Throws unless a new file can be created in `dir` (an exclusive probe, removed again). */
export function probeFolder(dir: string): void {
  const { fd, tmp } = createTempBeside(path.join(dir, 'stackscope-write-test'));
  fs.closeSync(fd);
  fs.rmSync(tmp, { force: true });
}

/** Why writing `file` failed, short: `ENOSPC: no space left on device`, `EACCES: permission denied`… */
export function reason(err: unknown, file: string): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'EISDIR') return 'EISDIR: it is a folder; give a file name';
  if (code === 'ENOENT' && !fs.existsSync(path.dirname(file))) return `ENOENT: no folder ${path.dirname(file)}`;
  if (code === 'EACCES' || code === 'EPERM') return `${code}: permission denied`;
  if (code === 'ELOOP') return 'ELOOP: it is a symbolic link, which stackscope does not follow';
  if (code === 'ENOSPC') return 'ENOSPC: no space left on device';
  if (code === 'EDQUOT') return 'EDQUOT: disk quota exceeded';
  return code || (err instanceof Error ? err.message.split('\n')[0]! : String(err));
}

/**
 * Writes `file` through `write(tmp)` into a temporary file beside it, created exclusively, then
 * renames that over `file`: an existing file is replaced by a complete new one or not at all.
 * `write` may reopen `tmp` by name: in a folder where others may create files but not remove
 * ours (a sticky one such as /tmp) that name stays ours; the rename is refused if it does not.
 * Where the folder takes no new files but the file itself is writable, it is written in place,
 * unless it is a symbolic link.
 */
export function replaceFile<T>(file: string, write: (tmp: string) => T, mode = 0o666): T {
  let created: { fd: number; tmp: string };
  try {
    created = createTempBeside(file, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') throw err;
    if (fs.lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink()) {
      throw new Error(`${file} is a symbolic link in a folder stackscope cannot write; not following it`, { cause: err });
    }
    return write(file);
  }
  const { fd, tmp } = created;
  try {
    const made = fs.fstatSync(fd);
    fs.closeSync(fd);
    const result = write(tmp);
    const now = fs.lstatSync(tmp);
    if (!now.isFile() || now.ino !== made.ino || now.dev !== made.dev) {
      throw new Error(`the temporary file ${tmp} was replaced while it was written; ${file} left as it was`);
    }
    fs.renameSync(tmp, file);
    return result;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** `replaceFile` with the content in hand: written through the exclusive descriptor itself. */
export function writeFileReplacing(file: string, data: string | Uint8Array, mode = 0o666): void {
  const { fd, tmp } = createTempBeside(file, mode);
  try {
    try {
      fs.writeFileSync(fd, data);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Why a folder or file cannot be trusted with code that will run, or undefined when it can. */
function untrusted(st: fs.Stats, kind: 'folder' | 'file'): string | undefined {
  if (kind === 'folder' ? !st.isDirectory() : !st.isFile()) return `not a ${kind}`;
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) return `owned by uid ${st.uid}, not by the current user (uid ${uid})`;
  if (process.platform !== 'win32' && (st.mode & 0o022) !== 0) {
    return `writable by ${st.mode & 0o020 ? 'group' : 'others'} (mode ${(st.mode & 0o777).toString(8)})`;
  }
  return undefined;
}

/**
 * Makes `dir` (and missing parents, mode 0700) and says why it cannot hold files that will be
 * run: a link, not owned by the current user, or writable by group or others. Undefined when
 * it can. Throws when it cannot be made at all (a read-only disk).
 */
export function privateFolderProblem(dir: string): string | undefined {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  return st.isSymbolicLink() ? 'is a symbolic link' : untrusted(st, 'folder');
}

export type TrustedRead = { text: string } | { refused: string } | undefined;

/**
 * Reads a file that will be run, without following a link at its name; refused unless owned by
 * the current user and writable by nobody else. Undefined when there is no such file.
 */
export function readTrustedFile(file: string): TrustedRead {
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    return { refused: code === 'ELOOP' ? 'is a symbolic link' : (code ?? String(err)) };
  }
  try {
    const why = untrusted(fs.fstatSync(fd), 'file');
    return why ? { refused: why } : { text: fs.readFileSync(fd, 'utf8') };
  } finally {
    fs.closeSync(fd);
  }
}
