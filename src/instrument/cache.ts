/**
 * On-disk cache of instrumented modules, so big dependencies are transformed once. The key is a
 * hash of everything the output depends on: source, file name, format, input map, composeMaps and
 * the stackscope version (a new version may emit different code). Cached code is run, so the
 * cache is trusted only where nobody else can write: `openTransformCache` refuses a folder, and
 * `get` an entry, not owned by the current user or writable by group or others. Entries are
 * written exclusively under a temporary name and renamed, so concurrent processes never read
 * half a file and a planted link is never followed.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { privateFolderProblem, readTrustedFile, writeFileReplacing } from '../util/output-file.js';

function say(line: string): void {
  try {
    fs.writeSync(2, `stackscope: ${line}\n`);
  } catch {
    /* no stderr */
  }
}

const uncached = (at: string, why: string) =>
  `not using the transform cache at ${at}: it ${why}; running uncached (remove it, or make it yours and writable only by you)`;

/**
 * Makes the cache folder if needed and checks it; says once on stderr why it is refused.
 * Undefined (run uncached) when refused, or silently when it cannot be made (read-only disk).
 */
export function openTransformCache(dir: string): string | undefined {
  let why: string | undefined;
  try {
    why = privateFolderProblem(dir);
  } catch {
    return undefined; // a read-only disk only costs speed
  }
  if (why) say(uncached(dir, why));
  return why ? undefined : dir;
}

/**
 * The transform cache folder for a program run in `cwd`, made and checked: undefined (run
 * uncached) when it is refused, which is said once on stderr. Called by the trace session, so
 * the one warning does not repeat in every traced process and thread.
 */
export function transformCacheDir(cwd: string): string | undefined {
  return openTransformCache(defaultCacheDir(cwd));
}

/**
 * Somewhere only the user can write, as cached code is run: the project's node_modules/.cache,
 * else the user's own cache folder ($XDG_CACHE_HOME, else ~/.cache). Never a shared folder.
 */
export function defaultCacheDir(cwd: string): string {
  const nodeModules = path.join(cwd, 'node_modules');
  if (fs.existsSync(nodeModules)) return path.join(nodeModules, '.cache', 'stackscope');
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache'), 'stackscope');
}

export class TransformCache {
  private refused = false;

  /** `dir` must have passed `openTransformCache`. */
  constructor(private readonly dir: string) {}

  key(parts: (string | undefined)[]): string {
    const h = createHash('sha256');
    for (const p of parts) h.update(p ?? '\u0000').update('\u0001');
    return h.digest('hex');
  }

  get(key: string): string | undefined {
    if (this.refused) return undefined;
    const target = this.file(key);
    let refusal: string | undefined;
    try {
      const why = privateFolderProblem(path.dirname(target));
      if (why) {
        refusal = uncached(path.dirname(target), why);
      } else {
        const read = readTrustedFile(target);
        if (read && 'text' in read) return read.text;
        if (read) refusal = uncached(target, read.refused);
      }
    } catch {
      // an unreadable entry is a miss
    }
    if (refusal) {
      this.refused = true;
      say(refusal);
    }
    return undefined;
  }

  set(key: string, code: string): void {
    if (this.refused) return;
    try {
      const target = this.file(key);
      fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
      writeFileReplacing(target, code, 0o600);
    } catch {
      // a read-only or full disk only costs speed
    }
  }

  private file(key: string): string {
    return path.join(this.dir, key.slice(0, 2), key.slice(2) + '.js');
  }
}
