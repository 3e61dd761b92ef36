import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
  let p = urlOrPath;
  if (p.startsWith('file:')) {
    try { p = fileURLToPath(p); } catch { /* keep as is */ }
  }
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
