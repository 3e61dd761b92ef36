/**
 * stackscope's own modules loaded while the program runs pass through the CommonJS `_compile`
 * patch like the program's: loaded as our own work (util/own-work.ts), they are not taken for it.
 */
import { createRequire } from 'node:module';
import { ownWork } from '../util/own-work.js';

/** `require(id)` relative to `from` (an import.meta.url), as stackscope's own work. */
export function requireOwn<T>(from: string, id: string): T {
  return ownWork(() => createRequire(from)(id) as T);
}
