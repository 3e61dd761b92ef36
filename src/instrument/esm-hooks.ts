/**
 * ESM load hook, registered with `module.register()`; runs on Node's hooks thread, so its
 * settings arrive through `initialize(data)`. It sits before tsx in the chain (registered after
 * it), so for TypeScript it receives tsx's JavaScript with its inline source map.
 *
 * CommonJS is not handled here: on Node 20 `nextLoad` returns `source: null` for CommonJS, and
 * the main-thread `_compile` patch (cjs-hook.ts) instruments it instead.
 */
import { createModuleTransformer, type ModuleTransformer, type TransformerSettings } from './module-transformer.js';

let transform: ModuleTransformer | undefined;

export function initialize(settings: TransformerSettings): void {
  transform = createModuleTransformer(settings);
}

interface LoadResult {
  format?: string | null;
  source?: string | ArrayBuffer | Uint8Array | null;
  shortCircuit?: boolean;
}
type NextLoad = (url: string, context?: object) => Promise<LoadResult>;

export async function load(url: string, context: object, nextLoad: NextLoad): Promise<LoadResult> {
  const result = await nextLoad(url, context);
  if (!transform || result.format !== 'module' || result.source == null || !url.startsWith('file:')) return result;
  const source = typeof result.source === 'string' ? result.source : Buffer.from(result.source as Uint8Array).toString('utf8');
  const code = transform(source, url, 'module');
  return code === source ? result : { ...result, source: code };
}
