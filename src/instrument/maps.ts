/**
 * Source-map plumbing for the instrumenter: reading the map that came with the code (tsx, a
 * bundler, tsc), mapping positions back through it, and writing the map of our own edits.
 */
import { TraceMap, originalPositionFor, GREATEST_LOWER_BOUND, LEAST_UPPER_BOUND, type SourceMapInput } from '@jridgewell/trace-mapping';
import remapping from '@jridgewell/remapping';
import type MagicString from 'magic-string';

export { findMapComment } from '../util/source-map-ref.js';
import { dataUrlMapText } from '../util/source-map-ref.js';
import { mapNameAt } from '../util/map-names.js';

/** A raw (JSON) source map, version 3. */
export interface RawSourceMap {
  version: number;
  sources: (string | null)[];
  names: string[];
  mappings: string;
  file?: string | null;
  sourceRoot?: string;
  sourcesContent?: (string | null)[] | null;
  [key: string]: unknown;
}

/** Decodes an inline `data:application/json;base64,...` map; undefined for other URLs. */
export function decodeDataUrl(url: string): RawSourceMap | undefined {
  const text = dataUrlMapText(url);
  return text === undefined ? undefined : (JSON.parse(text) as RawSourceMap);
}

export function inlineMapComment(map: object): string {
  return '//# sourceMappingURL=data:application/json;charset=utf-8;base64,' + Buffer.from(JSON.stringify(map)).toString('base64');
}

export interface OriginalPosition {
  source: string;
  line: number;
  col: number;
}

/**
 * Maps generated positions (1-based line, 0-based col) to the original source through the input
 * map. A function's start often sits between two mapping segments (esbuild maps tokens, not
 * every character), so we take the nearest segment before it on the line, else the next one.
 */
export class PositionMapper {
  private readonly trace?: TraceMap;

  constructor(inputMap: RawSourceMap | undefined, file: string) {
    if (inputMap) this.trace = new TraceMap(inputMap as SourceMapInput, file);
  }

  /** The original file of the whole module: the map's only (or first) source. */
  originalFile(fallback: string): string {
    const sources = this.trace?.resolvedSources.filter((s): s is string => !!s) ?? [];
    return sources[0] ?? fallback;
  }

  get hasMap(): boolean {
    return this.trace !== undefined;
  }

  /** The map's original name for the identifier starting here (1-based line, 0-based col): see mapNameAt. */
  nameAt(line: number, col: number): string | undefined {
    return this.trace ? mapNameAt(this.trace, line - 1, col) : undefined;
  }

  /** `nearestAfter: false` finds only a segment at or before the position on its line. */
  map(line: number, col: number, nearestAfter = true): OriginalPosition | undefined {
    if (!this.trace) return undefined;
    const biases = nearestAfter ? ([GREATEST_LOWER_BOUND, LEAST_UPPER_BOUND] as const) : ([GREATEST_LOWER_BOUND] as const);
    for (const bias of biases) {
      const p = originalPositionFor(this.trace, { line, column: col, bias });
      if (p.source != null && p.line != null && p.column != null) {
        return { source: p.source, line: p.line, col: p.column };
      }
    }
    return undefined;
  }
}

/**
 * The map of the instrumented code. Every original token keeps a mapping (`hires: 'boundary'`)
 * so V8 stack positions resolve exactly. With `inputMap` the result is composed so it points to
 * the original source (e.g. the .ts file); without it, it points to the code as loaded.
 */
export function outputMap(ms: MagicString, file: string, inputMap: RawSourceMap | undefined): RawSourceMap {
  const own = ms.generateMap({ hires: 'boundary', source: file, includeContent: true });
  const ownRaw = JSON.parse(own.toString()) as RawSourceMap;
  if (!inputMap) return ownRaw;
  const composed = remapping([ownRaw, inputMap] as SourceMapInput[], () => null);
  return JSON.parse(composed.toString()) as RawSourceMap;
}
