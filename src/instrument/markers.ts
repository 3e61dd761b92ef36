/**
 * Text the loaders look for in a module before deciding to instrument it: our own prologue and a
 * source map comment. Kept apart from the transform (acorn, magic-string, source-map libraries)
 * so a module served from the cache never loads it.
 */

/** Marks code that is already instrumented (so the loaders never instrument it twice). */
export const PROLOGUE_MARK = 'var __ss$, __ssb$; function __ssi$() {';

export { findMapComment } from '../util/source-map-ref.js';
