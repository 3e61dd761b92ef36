/**
 * What the instrumenter tells the `stackscope trace` session, and the checks the session makes on
 * scope options before the program runs. Light on purpose: the CLI loads it at start-up.
 *
 * Which include patterns and packages matched a loaded module: the module loaders run in several
 * threads and processes (the ESM hooks thread, the main thread's CommonJS loader, workers, forked
 * children), so each notes the first match of a pattern as an empty file `matched.<kind>.<index>`
 * in a folder the session reads once the program has ended. Written at match time, so a program
 * that dies early still reports what it matched.
 */
import fs from 'node:fs';
import path from 'node:path';

export { requireOwn } from './own-code.js';
/** the session checks the transform cache folder once, before the program starts */
export { transformCacheDir } from './cache.js';

export type MatchKind = 'include' | 'package';

const markerName = (kind: MatchKind, index: number): string => `matched.${kind}.${index}`;

/** Best effort: a failure only means the session may report a pattern as unmatched. */
export function markMatched(dir: string, kind: MatchKind, index: number): void {
  try {
    fs.writeFileSync(path.join(dir, markerName(kind, index)), '');
  } catch {
    /* reported as unmatched at worst */
  }
}

/** The include patterns and packages no loaded module matched, as given. */
export function unmatchedScope(dir: string, include: string[], packages: string[]): { include: string[]; packages: string[] } {
  const seen = (kind: MatchKind, i: number) => fs.existsSync(path.join(dir, markerName(kind, i)));
  return {
    include: include.filter((_, i) => !seen('include', i)),
    packages: packages.filter((_, i) => !seen('package', i)),
  };
}

/** `marked`, `@scope/name`: a name as it appears after `node_modules/` (no version, no path, no glob). */
const PACKAGE_NAME = /^(?:@[a-z0-9~-][a-z0-9._~-]*\/)?[a-z0-9~-][a-z0-9._~-]*$/i;

export function isPackageName(name: string): boolean {
  return PACKAGE_NAME.test(name);
}
