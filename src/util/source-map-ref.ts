/**
 * The `//# sourceMappingURL=` reference of a script, read one way for the instrumenter (maps of the
 * code it transforms) and the sampler (maps of the scripts V8 profiled): where the comment is, an
 * inline `data:` map's JSON, and the file an external map lives in. Kept free of the source-map
 * libraries so a loader that only looks for the comment loads none of them.
 */
import path from 'node:path';
import { filePathOf } from './paths.js';

/** `//# sourceMappingURL=...` as the last comment of a file (also the legacy `//@` form). */
const MAP_COMMENT = /(?:^|\n)[ \t]*\/\/[#@][ \t]*sourceMappingURL=([^\s'"`]+)[ \t]*\r?\n?[\s]*$/;

/** Where the map comment starts (offset of the `//`), and its URL; undefined when there is none. */
export function findMapComment(source: string): { start: number; url: string } | undefined {
  const m = MAP_COMMENT.exec(source);
  if (!m) return undefined;
  return { start: source.indexOf('//', m.index), url: m[1]! };
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
