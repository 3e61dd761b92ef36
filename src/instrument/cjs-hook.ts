/**
 * CommonJS instrumentation: wraps `Module.prototype._compile`, the one place every CommonJS
 * source passes through (plain .js/.cjs, and tsx's compiled .ts, which tsx hands to _compile).
 */
import Module from 'node:module';
import type { ModuleTransformer } from './module-transformer.js';

interface CompilableModule {
  _compile(content: string, filename: string, ...rest: unknown[]): unknown;
}

export function patchCommonJs(transform: ModuleTransformer): () => void {
  const proto = (Module as unknown as { prototype: CompilableModule }).prototype;
  const original = proto._compile;
  // Named `_compile` so the one extra stack frame it adds reads `Module._compile (...cjs-hook.js)`.
  proto._compile = function _compile(this: CompilableModule, content: string, filename: string, ...rest: unknown[]) {
    const code = typeof content === 'string' ? transform(content, filename, 'commonjs') : content;
    return original.call(this, code, filename, ...rest);
  };
  return () => {
    proto._compile = original;
  };
}
