/**
 * ESM load hook, registered with `module.register()`; runs on Node's hooks thread, so its
 * settings arrive through `initialize(data)`. It sits before tsx in the chain (registered after
 * it), so for TypeScript it receives tsx's JavaScript with its inline source map.
 *
 * CommonJS mostly is not handled here: on Node 20 `nextLoad` returns `source: null` for it, and
 * Node's CommonJS loader compiles it through the main-thread `_compile` patch (cjs-hook.ts), which
 * instruments it. But when a hook before ours hands over CommonJS source (tsx does for `.cts`),
 * Node compiles that source itself, past `_compile`: it is instrumented here.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { oneLine } from '../util/errors.js';
import type { ModuleTransformer, TransformerSettings } from './module-transformer.js';

let settings: TransformerSettings | undefined;
let transform: ModuleTransformer | undefined;

/**
 * Only keeps the settings: the program's main thread waits while this thread starts up (Node's
 * register() is synchronous), and a CommonJS program may never load an ES module, so the
 * transformer (scope, cache, hashing) is loaded on the first ES module instead.
 */
export function initialize(data: TransformerSettings): void {
  settings = data;
}

function transformer(): ModuleTransformer | undefined {
  if (!transform && settings) {
    const given = settings;
    settings = undefined; // tried once: a failure is reported once and ES modules load untraced
    try {
      const mod = createRequire(import.meta.url)('./module-transformer.js') as typeof import('./module-transformer.js');
      transform = mod.createModuleTransformer(given);
    } catch (err) {
      try {
        fs.writeSync(2, `stackscope: could not load the instrumenter, ES modules are not traced: ${oneLine(err)}\n`);
      } catch {
        /* no stderr */
      }
    }
  }
  return transform;
}

interface LoadResult {
  format?: string | null;
  source?: string | ArrayBuffer | Uint8Array | null;
  shortCircuit?: boolean;
}
type NextLoad = (url: string, context?: object) => Promise<LoadResult>;

export async function load(url: string, context: object, nextLoad: NextLoad): Promise<LoadResult> {
  const result = await nextLoad(url, context);
  const format = result.format;
  if ((format !== 'module' && format !== 'commonjs') || result.source == null || !url.startsWith('file:')) return result;
  const transform = transformer();
  if (!transform) return result;
  const source = typeof result.source === 'string' ? result.source : Buffer.from(result.source as Uint8Array).toString('utf8');
  const code = transform(source, url, format);
  return code === source ? result : { ...result, source: code };
}
