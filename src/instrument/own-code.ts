/**
 * stackscope's own modules that are loaded while the program runs (the transform, picomatch, the
 * sampler's stage) pass through the CommonJS `_compile` patch like the program's. They are not
 * the program's: they must not make it start the ESM hooks (see esm-need.ts).
 */
import { createRequire } from 'node:module';

let depth = 0;

export function loadingOwnCode(): boolean {
  return depth > 0;
}

/** `require(id)` relative to `from` (an import.meta.url), marked as stackscope's own load. */
export function requireOwn<T>(from: string, id: string): T {
  depth++;
  try {
    return createRequire(from)(id) as T;
  } finally {
    depth--;
  }
}
