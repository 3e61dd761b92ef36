/**
 * The one entry point both loaders (ESM hooks thread, CommonJS `_compile` patch) use: decide
 * whether a module is in scope, instrument it (through the disk cache), and never let a failure of
 * ours break the program: on any error we print one line and hand back the original source.
 */
import fs from 'node:fs';
import path from 'node:path';
import { requireOwn } from './own-code.js';
import type { RawSourceMap } from './maps.js';
import { PROLOGUE_MARK, findMapComment } from './markers.js';
import { mapFilePath } from '../util/source-map-ref.js';
import { makeScope, type ScopeConfig } from './scope.js';
import { filePathOf } from '../util/paths.js';
import { TransformCache } from './cache.js';

type Transform = typeof import('./transform.js');
let transformModule: Transform | undefined;
/**
 * The transform and its parser and source-map libraries, loaded on the first module that is not
 * in the cache: a run whose modules are all cached (or out of scope) never loads them.
 */
export function loadTransform(): Transform {
  return (transformModule ??= requireOwn<Transform>(import.meta.url, './transform.js'));
}

/** Everything the loaders need; plain data, so it can be sent to the ESM hooks thread. */
export interface TransformerSettings extends ScopeConfig {
  cacheDir?: string;
  composeMaps: boolean;
  /** stackscope version, part of the cache key */
  version: string;
}

/**
 * 'commonjs-or-module': a .js file with no "type" in its package.json, which Node runs as an ES
 * module when it does not parse as CommonJS and does as a module.
 */
export type ModuleFormat = 'module' | 'commonjs' | 'commonjs-or-module';
export type ModuleTransformer = (source: string, file: string, format: ModuleFormat) => string;

export function createModuleTransformer(settings: TransformerSettings): ModuleTransformer {
  const inScope = makeScope(settings);
  const cache = settings.cacheDir ? new TransformCache(settings.cacheDir) : undefined;
  const reported = new Set<string>();

  function report(file: string, what: string): void {
    if (reported.has(file)) return;
    reported.add(file);
    try {
      fs.writeSync(2, `stackscope: cannot instrument ${what} (left untraced)\n`);
    } catch {
      /* no stderr */
    }
  }

  // Part of the cache key: code cached before the function table's escaping was added is not reused.
  const TABLE_FORMAT = 'table-escaped';
  return (source, file, format) => {
    if (!inScope(file)) return source;
    if (source.includes(PROLOGUE_MARK)) return source; // already ours
    try {
      const external = readExternalMap(source, file);
      const key = cache?.key([settings.version, TABLE_FORMAT, file, format, String(settings.composeMaps), external?.text, source]);
      const hit = key ? cache!.get(key) : undefined;
      if (hit !== undefined) return hit;
      const { instrument, InstrumentSyntaxError } = loadTransform();
      const as = (f: 'module' | 'commonjs') =>
        instrument(source, { file, format: f, composeMaps: settings.composeMaps, inputMap: external?.map, mapComment: 'with-input-map' })
          .code;
      let code: string;
      if (format !== 'commonjs-or-module') code = as(format);
      else {
        try {
          code = as('commonjs');
        } catch (err) {
          if (!(err instanceof InstrumentSyntaxError)) throw err;
          try {
            code = as('module');
          } catch {
            throw err; // neither: what is wrong as CommonJS is what Node reports too
          }
        }
      }
      if (key) cache!.set(key, code);
      return code;
    } catch (err) {
      const shown = filePathOf(file) ?? file;
      if (transformModule && err instanceof transformModule.InstrumentSyntaxError) {
        report(file, `${filePathOf(err.file) ?? err.file}:${err.line}:${err.column}: ${err.message}`);
      } else {
        report(file, `${shown}: ${(err as Error)?.message ?? err}`);
      }
      return source;
    }
  };
}

/** A `//# sourceMappingURL=file.js.map` next to the module (inline maps are read by instrument()). */
function readExternalMap(source: string, file: string): { map: RawSourceMap; text: string } | undefined {
  const comment = findMapComment(source);
  if (!comment || comment.url.startsWith('data:')) return undefined;
  const modulePath = filePathOf(file);
  if (!modulePath) return undefined;
  try {
    const mapPath = mapFilePath(comment.url, modulePath);
    if (!mapPath) return undefined;
    const text = fs.readFileSync(mapPath, 'utf8');
    const map = JSON.parse(text) as RawSourceMap;
    return originalsExist(map, mapPath) ? { map, text } : undefined;
  } catch {
    return undefined; // a missing map is not our problem: positions stay generated ones
  }
}

/**
 * Whether a map leads to sources one can open: some source exists on disk or has its content in
 * the map. Packages often ship maps to sources they do not ship (@paulirish/trace_engine's point
 * to `../../../../front_end/...ts`, outside the package): positions in the generated .js, which is
 * there, then serve better than positions in files nobody has.
 */
function originalsExist(map: RawSourceMap, mapPath: string): boolean {
  if (map.sourcesContent?.some((c) => typeof c === 'string')) return true;
  const base = path.resolve(path.dirname(mapPath), map.sourceRoot ?? '');
  return map.sources.some((s) => {
    if (!s) return false;
    const file = s.startsWith('file:') ? filePathOf(s) : path.resolve(base, s);
    return !!file && fs.existsSync(file);
  });
}
