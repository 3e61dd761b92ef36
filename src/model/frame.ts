import path from 'node:path';
import { filePathOf } from '../util/paths.js';

/** Where a function lives, in original-source terms (after source maps). */
export interface FunctionInfo {
  /** function name as a person reads it: `fetchAll`, `Store.get`, `(anonymous)` */
  name: string;
  /** path relative to the working directory, forward slashes (absolute if outside it) */
  file: string;
  /** 1-based line of the function's start */
  line: number;
  /** 0-based column */
  col: number;
}

/** Turns a module URL or absolute path into the short path shown to users. */
export function displayPath(urlOrPath: string, cwd: string = process.cwd()): string {
  const p = framePath(urlOrPath);
  if (!path.isAbsolute(p)) return p.split(path.sep).join('/');
  const rel = path.relative(cwd, p);
  const shown = rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
  return shown.split(path.sep).join('/');
}

/**
 * The one naming rule shared by traces, sampled profiles, folded stacks and `compare`, so that a
 * trace and a profile of the same program can be matched function by function:
 * `name (file:line)`.
 */
export function frameLabel(fn: Pick<FunctionInfo, 'name' | 'file' | 'line'>): string {
  const name = fn.name || '(anonymous)';
  return fn.file ? `${name} (${fn.file}:${fn.line})` : name;
}

/**
 * A frame of the profile model: where a function lives, normalised once where a format is read.
 * `file` is an absolute path when the source knew one (file: URLs are converted), otherwise as the
 * format gave it (relative, `node:…`, a URL) or '' for frames with no source (V8's pseudo-frames,
 * builtins); `line` and `col` are 1-based, 0 when unknown.
 */
export interface Frame {
  name: string;
  file: string;
  line: number;
  col: number;
}

/** The interning key of a frame: equal keys are the same frame. */
export function frameKey(f: Frame): string {
  return `${f.name}\u0000${f.file}\u0000${f.line}\u0000${f.col}`;
}

/** A module URL or path as stored in a Frame: file: URLs become absolute paths, others stay. */
export function framePath(urlOrPath: string): string {
  return filePathOf(urlOrPath) ?? urlOrPath;
}

/** The shared label of a model frame, with its file shown relative to `cwd` when under it. */
export function modelFrameLabel(f: Frame, cwd: string = process.cwd()): string {
  return frameLabel({ name: f.name, file: f.file ? displayPath(f.file, cwd) : '', line: f.line });
}

const LABEL = /^(.*) \(([^()]*):(\d+)\)$/;

/**
 * Reads a frame back from its label (`name (file:line)`, or a bare name): for formats that carry
 * only labels (folded stacks, trace slice names). The one place a label is parsed.
 */
export function parseFrameLabel(label: string): Frame {
  const m = LABEL.exec(label);
  if (!m) return { name: label, file: '', line: 0, col: 0 };
  return { name: m[1]!, file: m[2]!, line: Number(m[3]), col: 0 };
}

/**
 * The one rule for V8's pseudo-frames, stated once for every format and stage:
 * - `(root)` is the profile tree's root, structure rather than a frame: readers leave it out;
 * - `(idle)` is a thread waiting, not computing: its samples are not CPU time and are dropped;
 * - `(program)` (native code V8 could not attribute) and `(garbage collector)` are CPU time the
 *   program caused: they are kept as frames of their own.
 */
export type FrameRole = 'root' | 'idle' | 'cpu';
export function frameRole(name: string, file: string): FrameRole {
  if (file) return 'cpu';
  if (name === '(root)') return 'root';
  if (name === '(idle)') return 'idle';
  return 'cpu';
}
