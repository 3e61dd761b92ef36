/**
 * Which modules get instrumented. By default the user's own code: files under `cwd` and outside
 * any `node_modules`. `include` globs add files (packages too: `node_modules/pkg/**`), `exclude`
 * globs remove them and win over everything. Globs match the path relative to `cwd`.
 * stackscope's own files are never instrumented (that would trace the tracer).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import picomatch from 'picomatch';

export interface ScopeConfig {
  include: string[];
  exclude: string[];
  cwd: string;
  /** stackscope's package root: its dist/ and src/ are never instrumented */
  selfRoot?: string;
}

/** The file path of a module URL or path; undefined for `node:`, `data:` and other non-files. */
export function toFilePath(urlOrPath: string): string | undefined {
  if (urlOrPath.startsWith('file:')) {
    try { return fileURLToPath(urlOrPath); } catch { return undefined; }
  }
  return path.isAbsolute(urlOrPath) ? urlOrPath : undefined;
}

export function makeScope(config: ScopeConfig): (urlOrPath: string) => boolean {
  const opts = { dot: true };
  const included = config.include.length ? picomatch(config.include, opts) : () => false;
  const excluded = config.exclude.length ? picomatch(config.exclude, opts) : () => false;
  const own = config.selfRoot ? ['dist', 'src'].map((d) => path.join(config.selfRoot!, d) + path.sep) : [];

  return (urlOrPath) => {
    const file = toFilePath(urlOrPath);
    if (!file) return false;
    if (own.some((dir) => file.startsWith(dir))) return false;
    const rel = path.relative(config.cwd, file).split(path.sep).join('/');
    if (excluded(rel)) return false;
    if (included(rel)) return true;
    const inside = !rel.startsWith('../') && rel !== '..' && !path.isAbsolute(rel);
    return inside && !rel.split('/').includes('node_modules');
  };
}
