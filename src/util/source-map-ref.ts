/**
 * The `//# sourceMappingURL=` reference of a script, read one way for the instrumenter (maps of the
 * code it transforms) and the sampler (maps of the scripts V8 profiled): where the comment is, an
 * inline `data:` map's JSON, and the file an external map lives in. Kept free of the source-map
 * libraries so a loader that only looks for the comment loads none of them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { filePathOf } from './paths.js';

/**
 * `//# sourceMappingURL=...` as the last comment of a file (also the legacy `//@` form), followed by
 * nothing but whitespace. One `\s*` for all of that whitespace: two overlapping runs of it made a
 * comment followed by many spaces and then anything else take time growing with the square of the
 * spaces (a program's file is untrusted input).
 */
const MAP_COMMENT = /(?:^|\n)[ \t]*\/\/[#@][ \t]*sourceMappingURL=([^\s'"`]+)\s*$/;

/** Where the map comment starts (offset of the `//`), and its URL; undefined when there is none. */
export function findMapComment(source: string): { start: number; url: string } | undefined {
  const m = MAP_COMMENT.exec(source);
  if (!m) return undefined;
  return { start: source.indexOf('//', m.index), url: m[1]! };
}

/** How much of a script's end readMapRef reads first. */
const TAIL_BYTES = 64 * 1024;

/**
 * The map reference of a script file on disk (the URL of its `sourceMappingURL` comment), or
 * undefined. The comment is the file's last line, so only the file's end is read (a 9 MB
 * `typescript.js` without a map costs a 64 KiB read, not 9 MB and a regex over them), unless that
 * last line is longer than the part read (an inline map): then the whole file, up to `maxBytes`.
 * Throws what fs throws.
 */
export function readMapRef(file: string, maxBytes: number): string | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const len = Math.min(size, TAIL_BYTES);
    const tail = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const n = fs.readSync(fd, tail, got, len - got, size - len + got);
      if (n === 0) break;
      got += n;
    }
    const text = tail.toString('utf8', 0, got);
    // The comment's own line holds no newline: when one is left in the part read once the trailing
    // whitespace is cut, the last line begins after it, inside the part read, and the answer is
    // the whole file's (and the pattern's `^` cannot match at the cut start of the part read).
    if (got === size || text.trimEnd().lastIndexOf('\n') >= 0) return findMapComment(text)?.url;
    // A last line longer than the part read (an inline map): the whole file, from the same descriptor.
    return size <= maxBytes ? findMapComment(fs.readFileSync(fd, 'utf8'))?.url : undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** The JSON text of an inline `data:application/json[;base64],…` map; undefined for other URLs. */
export function dataUrlMapText(url: string): string | undefined {
  const m = /^data:application\/json[^,]*?(;base64)?,(.*)$/s.exec(url);
  if (!m) return undefined;
  return m[1] ? Buffer.from(m[2]!, 'base64').toString('utf8') : decodeURIComponent(m[2]!);
}

/** The file an external map reference points to, relative to the script's own file; undefined when it is none. */
export function mapFilePath(ref: string, scriptUrlOrPath: string): string | undefined {
  if (ref.startsWith('data:')) return undefined;
  if (ref.startsWith('file:')) return filePathOf(ref);
  if (/^[a-z][a-z0-9+.-]*:/i.test(ref)) return undefined; // http: and the like: not read
  const script = filePathOf(scriptUrlOrPath);
  if (!script) return undefined;
  try {
    return path.resolve(path.dirname(script), decodeURIComponent(ref.split(/[?#]/)[0]!));
  } catch {
    return undefined;
  }
}
