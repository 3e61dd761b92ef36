/**
 * The original names a source map keeps for minified code, by one rule for the tracer (which finds
 * a function's name identifier in its syntax tree) and the sampler (which finds it just before the
 * position V8 reports for the function).
 */
import { traceSegment, type TraceMap } from '@jridgewell/trace-mapping';

const IDENTIFIER = /^[$_\p{ID_Start}][$\u200c\u200d\p{ID_Continue}]{0,199}$/u;

/** A plain JavaScript identifier (at most 200 characters): the only kind of name taken from a map. */
export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}

/**
 * The original name the map gives the identifier that starts exactly at this generated position
 * (0-based line and column): how minifiers keep `escapeHtmlEntities` for their `y`. Only a plain
 * identifier is taken: the map is the program's input, and a name goes into reports as it is.
 */
export function mapNameAt(map: TraceMap, line: number, col: number): string | undefined {
  const seg = traceSegment(map, line, col);
  if (!seg || seg[0] !== col || seg.length !== 5) return undefined;
  const name = map.names[seg[4]];
  return name !== undefined && isIdentifier(name) ? name : undefined;
}
