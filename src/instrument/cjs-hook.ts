/**
 * CommonJS instrumentation: wraps `Module.prototype._compile`, the one place every CommonJS
 * source passes through (plain .js/.cjs, and tsx's compiled .ts, which tsx hands to _compile).
 * On Node >= 20.19 require() of an ES module passes through it too, with the format 'module'.
 */
import Module from 'node:module';
import type { ModuleTransformer } from './module-transformer.js';
import { mayLoadEsm } from './esm-need.js';
import { inOwnWork } from '../util/own-work.js';

interface CompilableModule {
  id: string;
  _compile(content: string, filename: string, ...rest: unknown[]): unknown;
}

/**
 * `beforeEsm`, when given, is called once, before the first module that could reach the ESM
 * loader is compiled (see mayLoadEsm): the ESM hooks are registered then, not at start.
 */
export function patchCommonJs(transform: ModuleTransformer, beforeEsm?: () => void): () => void {
  const proto = (Module as unknown as { prototype: CompilableModule }).prototype;
  const original = proto._compile;
  let pending = beforeEsm;
  // Named `_compile` so the one extra stack frame it adds reads `Module._compile (...cjs-hook.js)`.
  proto._compile = function _compile(this: CompilableModule, content: string, filename: string, ...rest: unknown[]) {
    if (typeof content !== 'string') return original.call(this, content, filename, ...rest);
    const format = rest[0];
    if (pending && !inOwnWork() && mayLoadEsm(content, format, this.id === '.')) {
      const run = pending;
      pending = undefined;
      run();
    }
    // Node passes 'module' for a required ES module, 'commonjs' where the package says so, and
    // nothing for a typeless .js, which it runs as an ES module if it has module syntax.
    const code = transform(content, filename, format === 'module' || format === 'commonjs' ? format : 'commonjs-or-module');
    return original.call(this, code, filename, ...rest);
  };
  return () => {
    proto._compile = original;
  };
}
