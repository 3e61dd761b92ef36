/**
 * Rewrites a V8 profile's call frames from generated positions to original ones (TypeScript, bundles),
 * so every format names frames as the tracer does: the original file and the function's start line,
 * and for minified code the original name (see `originalName`).
 *
 * Two ways to find a script's map: in the profiled process itself, Node's own cache
 * (`module.findSourceMap`, filled when source maps are enabled, as tsx does for its in-memory output);
 * from outside (the agent's worker thread, `attach`), the `sourceMappingURL` comment of the file on disk.
 */
import fs from 'node:fs';
import module from 'node:module';
import { pathToFileURL } from 'node:url';
import { TraceMap, originalPositionFor, GREATEST_LOWER_BOUND, LEAST_UPPER_BOUND, type SourceMapInput } from '@jridgewell/trace-mapping';
import type { CallFrame, CpuProfile } from '../formats/cpuprofile.js';
import { filePathOf } from '../util/paths.js';
import { dataUrlMapText, findMapComment, mapFilePath, readMapRef } from '../util/source-map-ref.js';
import { isIdentifier, mapNameAt } from '../util/map-names.js';

export type SourceMapLookup = (url: string) => TraceMap | null;

/**
 * Scripts named in profiles are the program's modules, but over days an agent also meets
 * `vm`/`new Function` scripts with fresh names: every per-URL cache here keeps at most this many
 * entries (oldest forgotten first), so the agent's memory stays flat.
 */
export const MAX_CACHED_SCRIPTS = 4096;

/** A per-URL memo of `load`, bounded to MAX_CACHED_SCRIPTS entries. */
export function cachedLookup(load: (url: string) => TraceMap | null): SourceMapLookup {
  const cache = new Map<string, TraceMap | null>();
  return (url) => {
    let map = cache.get(url);
    if (map === undefined) {
      map = load(url);
      if (cache.size >= MAX_CACHED_SCRIPTS) cache.delete(cache.keys().next().value!);
      cache.set(url, map);
    }
    return map;
  };
}

/**
 * The source map payload Node holds for a script of this thread (its source map cache, filled when
 * source maps are enabled, as tsx does for its in-memory output), without `sourcesContent`: mapping
 * positions never needs the sources, and the payload may travel to another thread. Never throws.
 */
export function findSourceMapPayload(url: string): SourceMapInput | null {
  const p = filePathOf(url);
  try {
    const sm = module.findSourceMap(url) ?? (p ? module.findSourceMap(p) : undefined);
    if (!sm) return null;
    const { sourcesContent: _, ...payload } = sm.payload as unknown as Record<string, unknown>;
    return payload as unknown as SourceMapInput;
  } catch {
    return null;
  }
}

/** A TraceMap from a payload, its sources resolved against the script; null when unusable. */
export function traceMapOf(url: string, payload: SourceMapInput | null | undefined): TraceMap | null {
  if (!payload) return null;
  const p = filePathOf(url);
  try {
    return new TraceMap(payload, p ? pathToFileURL(p).href : url);
  } catch {
    return null; // a broken map names frames by generated positions: better than failing
  }
}

/** Maps known to this process (Node's source map cache); empty unless source maps are enabled. */
export function inProcessSourceMaps(): SourceMapLookup {
  return cachedLookup((url) => traceMapOf(url, findSourceMapPayload(url)));
}

const MAX_SCRIPT_BYTES = 64 << 20;

/** The map a `sourceMappingURL` reference names (an inline data: URL or a file next to the script). */
export function mapFromRef(ref: string, scriptUrl: string): TraceMap | null {
  const scriptPath = filePathOf(scriptUrl);
  const base = scriptPath ? pathToFileURL(scriptPath).href : scriptUrl;
  try {
    const inline = dataUrlMapText(ref);
    if (inline !== undefined) return new TraceMap(inline, base);
    const mapPath = mapFilePath(ref, scriptUrl);
    return mapPath ? new TraceMap(fs.readFileSync(mapPath, 'utf8'), pathToFileURL(mapPath).href) : null;
  } catch {
    return null;
  }
}

/** Maps found through the scripts' files on disk (their last line's `sourceMappingURL`). */
export function diskSourceMaps(): SourceMapLookup {
  return cachedLookup((url) => {
    const p = filePathOf(url);
    if (!p) return null;
    try {
      const ref = readMapRef(p, MAX_SCRIPT_BYTES);
      return ref ? mapFromRef(ref, url) : null;
    } catch {
      return null; // gone or unreadable: keep generated positions
    }
  });
}

/** First lookup that knows the script wins. */
export function chainSourceMaps(...lookups: SourceMapLookup[]): SourceMapLookup {
  return (url) => {
    for (const l of lookups) {
      const m = l(url);
      if (m) return m;
    }
    return null;
  };
}

/** The lines of a script's generated code, by URL; undefined when unknown. */
type CodeLines = (url: string) => string[] | undefined;

/**
 * Reads scripts' code from disk, each once: only files that name a source map, i.e. generated code
 * as V8 ran it (the `.ts` file of a script tsx compiled in memory is not that code).
 */
function diskCodeLines(): CodeLines {
  const lines = new Map<string, string[] | undefined>();
  return (url) => {
    if (!lines.has(url)) {
      const p = filePathOf(url);
      let code: string | undefined;
      try {
        code = p && fs.statSync(p).size <= MAX_SCRIPT_BYTES ? fs.readFileSync(p, 'utf8') : undefined;
      } catch {
        code = undefined;
      }
      lines.set(url, code !== undefined && findMapComment(code) ? code.split(/\r\n?|[\n\u2028\u2029]/) : undefined);
    }
    return lines.get(url);
  };
}

/**
 * What stands between a function's name and the position V8 reports for it, the start of its
 * parameters, in minified code: nothing (`function y(e){`, a method `y(e){`: the `(`), `=` (`y=(e)=>`,
 * `y=e=>`: the `(` or the `e`) or `=function` (`y=function(e){`).
 */
const NAME_TO_PARAMS = ['', '=', '=function'];
const ID_PART = /[$\u200c\u200d\p{ID_Continue}]/u;

/**
 * A class constructor: V8 names it after the class and reports the `(` of `constructor(`. Taken only
 * where nothing but field names stands between the class's header and `constructor` (`class l{`,
 * `class l extends x.Base{tokens;options;constructor(`), so that the header is this class's own.
 */
const CONSTRUCTOR_OF =
  /class[ \t]+([$_\p{ID_Start}][$\u200c\u200d\p{ID_Continue}]*)(?:[ \t]+extends[ \t]+[^{};]*)?\{(?:[ \t]*#?[$_\p{ID_Start}][$\u200c\u200d\p{ID_Continue}]*[ \t]*;)*[ \t]*constructor$/du;
/** how far before a constructor its class header is looked for, characters */
const CLASS_HEAD_WINDOW = 2000;

/** The column of the class's name when `col` is its constructor's `(` and V8 names it `name`. */
function classNameAt(text: string, col: number, name: string): number | undefined {
  if (!text.startsWith('constructor', col - 'constructor'.length)) return undefined; // most frames: no regex
  const from = Math.max(0, col - CLASS_HEAD_WINDOW);
  const m = CONSTRUCTOR_OF.exec(text.slice(from, col));
  const at = m?.indices?.[1];
  return m && m[1] === name && at && !ID_PART.test(text[from + m.index - 1] ?? '') ? from + at[0] : undefined;
}

/**
 * originalName's answers per map, by `line:col:name`: the agent maps a profile every second, and a
 * script's code is read once, not for each.
 */
const namesFound = new WeakMap<TraceMap, Map<string, string | null>>();

/**
 * The original name of a frame of minified code, or undefined to keep V8's. V8 names a function by
 * its own name or the binding it is assigned to, `y`; where the code just before the frame's
 * position is that identifier (and one of NAME_TO_PARAMS), or the header of the class whose
 * constructor it is (CONSTRUCTOR_OF), the map's name for it is taken, by the tracer's rule
 * (mapNameAt). Anonymous frames and code the map does not rename keep their names.
 */
function originalName(frame: CallFrame, map: TraceMap, code: CodeLines): string | undefined {
  const { functionName: name, lineNumber: line, columnNumber: col } = frame;
  if (!isIdentifier(name) || map.names.length === 0) return undefined;
  let found = namesFound.get(map);
  if (!found) namesFound.set(map, (found = new Map()));
  const key = `${line}:${col}:${name}`;
  let original = found.get(key);
  if (original === undefined) {
    original = null;
    for (const between of NAME_TO_PARAMS) {
      const at = col - between.length - name.length;
      const mapped = at >= 0 ? mapNameAt(map, line, at) : undefined;
      if (mapped === undefined || mapped === name) continue;
      // the exact evidence: the code there is the name V8 gave, a whole identifier
      const text = code(frame.url)?.[line];
      if (text?.slice(at, col) === name + between && !ID_PART.test(text[at - 1] ?? '')) {
        original = mapped;
        break;
      }
    }
    if (original === null) {
      const text = code(frame.url)?.[line];
      const at = text === undefined ? undefined : classNameAt(text, col, name);
      const mapped = at === undefined ? undefined : mapNameAt(map, line, at);
      if (mapped !== undefined && mapped !== name) original = mapped;
    }
    found.set(key, original);
  }
  return original ?? undefined;
}

/** A call frame at its original position (and name), or unchanged when no map covers it. */
export function mapCallFrame(frame: CallFrame, lookup: SourceMapLookup, code: CodeLines = diskCodeLines()): CallFrame {
  if (!frame.url || frame.lineNumber < 0) return frame;
  const map = lookup(frame.url);
  if (!map) return frame;
  // A module's top-level code sits at 0:0, before any mapping: it is the original file's line 1.
  if (frame.lineNumber === 0 && frame.columnNumber === 0 && !frame.functionName) {
    const source = map.resolvedSources[0];
    return source ? { ...frame, url: source } : frame;
  }
  // V8 reports the function's own position (its parameter list); the closest mapping at or before
  // it is the function's name or keyword, i.e. the start line a source transform reports.
  const needle = { line: frame.lineNumber + 1, column: Math.max(0, frame.columnNumber) };
  let pos = originalPositionFor(map, { ...needle, bias: GREATEST_LOWER_BOUND });
  if (pos.source == null || pos.line == null) pos = originalPositionFor(map, { ...needle, bias: LEAST_UPPER_BOUND });
  if (pos.source == null || pos.line == null) return frame;
  const functionName = originalName(frame, map, code) ?? frame.functionName;
  return { ...frame, functionName, url: pos.source, lineNumber: pos.line - 1, columnNumber: pos.column ?? 0 };
}

/** Source-maps every node of a profile in place; returns it. */
export function sourceMapProfile(profile: CpuProfile, lookup: SourceMapLookup): CpuProfile {
  const seen = new Map<string, CallFrame>();
  const code = diskCodeLines();
  for (const n of profile.nodes) {
    const f = n.callFrame;
    const key = `${f.url}:${f.lineNumber}:${f.columnNumber}:${f.functionName}`;
    let mapped = seen.get(key);
    if (!mapped) seen.set(key, (mapped = mapCallFrame(f, lookup, code)));
    n.callFrame = {
      ...f,
      functionName: mapped.functionName,
      url: mapped.url,
      lineNumber: mapped.lineNumber,
      columnNumber: mapped.columnNumber,
    };
    // Line ticks are in generated lines: wrong once frames are mapped, so drop them.
    if (mapped !== f) delete n.positionTicks;
  }
  return profile;
}
