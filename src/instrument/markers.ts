/**
 * Text the loaders look for in a module before deciding to instrument it: our own prologue and a
 * source map comment. Kept apart from the transform (acorn, magic-string, source-map libraries)
 * so a module served from the cache never loads it.
 */

/** Marks code that is already instrumented (so the loaders never instrument it twice). */
export const PROLOGUE_MARK = 'var __ss$, __ssb$; function __ssi$() {';

/** `//# sourceMappingURL=...` as the last comment of a file (also the legacy `//@` form). */
const MAP_COMMENT = /(?:^|\n)[ \t]*\/\/[#@][ \t]*sourceMappingURL=([^\s'"`]+)[ \t]*\r?\n?[\s]*$/;

/** Where the map comment starts (offset of the `//`), and its URL; undefined when there is none. */
export function findMapComment(source: string): { start: number; url: string } | undefined {
  const m = MAP_COMMENT.exec(source);
  if (!m) return undefined;
  return { start: source.indexOf('//', m.index), url: m[1]! };
}
