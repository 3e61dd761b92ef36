/**
 * Which modules get instrumented. By default the user's own code: files under `cwd` and outside
 * any `node_modules`. `include` globs and `packages` add files, `exclude` globs remove them and
 * win over everything. stackscope's own files are never instrumented (that would trace the tracer).
 *
 * Packages live in many layouts: `node_modules` of the project, of a parent folder (hoisted
 * monorepos), pnpm's `node_modules/.pnpm/<name>@<version>/node_modules/<name>`, or a symlink to a
 * folder anywhere (npm workspaces, `npm link`). Node loads modules by their real path, so:
 * - a glob is matched against the path relative to `cwd` and, for a file inside a `node_modules`,
 *   against the path from its last `node_modules/` on: `node_modules/pkg/**` matches the package
 *   in every layout. An absolute glob is matched against the absolute path.
 * - a package (`marked`, `@scope/name`) takes the files whose last `node_modules/` segment is
 *   followed by its name, wherever that is, plus the real folder that `node_modules/<name>`
 *   leads to from `cwd` or a folder above it (a workspace or linked package), outside that
 *   folder's own `node_modules`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { requireOwn } from './own-code.js';
import type Picomatch from 'picomatch';
import { markMatched } from './protocol.js';
import { filePathOf } from '../util/paths.js';

/** Loaded only when there are globs: most runs have none, and every thread that loads modules pays for it. */
const picomatch = (globs: string[], opts: Picomatch.PicomatchOptions) =>
  requireOwn<typeof Picomatch>(import.meta.url, 'picomatch')(globs, opts);

export interface ScopeConfig {
  include: string[];
  exclude: string[];
  /** package names whose own files are instrumented wherever they are installed */
  packages?: string[];
  cwd: string;
  /** stackscope's package root: its dist/ and src/ are never instrumented */
  selfRoot?: string;
  /** where to note which include pattern or package matched a loaded module (see protocol.ts) */
  matchedDir?: string;
}

const NODE_MODULES = '/node_modules/';

/**
 * For a `/`-separated path inside a `node_modules`: the path from its last `node_modules/` on and
 * the name of the package that folder holds (`@scope/name` for a scoped one).
 */
export function packagePath(file: string): { tail: string; name: string } | undefined {
  const at = file.lastIndexOf(NODE_MODULES);
  if (at < 0) return undefined;
  const tail = file.slice(at + 1);
  const parts = tail.split('/');
  const name = parts[1]?.startsWith('@') ? `${parts[1]}/${parts[2] ?? ''}` : parts[1];
  return name ? { tail, name } : undefined;
}

/** The real folder `node_modules/<name>` leads to from `dir` or the nearest folder above it that has one. */
export function resolvePackageDir(name: string, dir: string): string | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const candidate = path.join(d, 'node_modules', ...name.split('/'));
    try {
      if (fs.statSync(candidate).isDirectory()) return fs.realpathSync(candidate);
    } catch {
      /* not here */
    }
    if (path.dirname(d) === d) return undefined;
  }
}

const toPosix = (p: string): string => p.split(path.sep).join('/');

/** One matcher over a list of globs: relative ones see `rel` and the node_modules tail, absolute ones the path. */
function globMatcher(globs: string[]): (abs: string, rel: string, tail: string | undefined) => boolean {
  const opts = { dot: true };
  const absolute = globs.filter((g) => path.isAbsolute(g)).map(toPosix);
  const relative = globs.filter((g) => !path.isAbsolute(g));
  const abs = absolute.length ? picomatch(absolute, opts) : undefined;
  const rel = relative.length ? picomatch(relative, opts) : undefined;
  return (absPath, relPath, tail) => (!!abs && abs(absPath)) || (!!rel && (rel(relPath) || (tail !== undefined && rel(tail))));
}

export function makeScope(config: ScopeConfig): (urlOrPath: string) => boolean {
  const excluded = globMatcher(config.exclude);
  const includes = config.include.map((g) => globMatcher([g]));
  const packages = config.packages ?? [];
  // each package's real folder as seen from cwd, with a trailing `/` (a workspace or linked package)
  const packageDirs = packages.map((name) => {
    const dir = resolvePackageDir(name, config.cwd);
    return dir ? toPosix(dir) + '/' : undefined;
  });
  const own = config.selfRoot ? ['dist', 'src'].map((d) => toPosix(path.join(config.selfRoot!, d)) + '/') : [];
  // patterns and packages not seen to match yet: noted once each (across threads and processes too)
  const pendingIncludes = new Set(includes.keys());
  const pendingPackages = new Set(packages.keys());

  function inPackage(i: number, abs: string, pkg: ReturnType<typeof packagePath>): boolean {
    if (pkg?.name === packages[i]) return true;
    const dir = packageDirs[i];
    return !!dir && abs.startsWith(dir) && !abs.slice(dir.length).split('/').includes('node_modules');
  }

  function note(kind: 'include' | 'package', i: number): void {
    (kind === 'include' ? pendingIncludes : pendingPackages).delete(i);
    if (config.matchedDir) markMatched(config.matchedDir, kind, i);
  }

  return (urlOrPath) => {
    const file = filePathOf(urlOrPath);
    if (!file) return false;
    const abs = toPosix(file);
    if (own.some((dir) => abs.startsWith(dir))) return false;
    const rel = toPosix(path.relative(config.cwd, file));
    const pkg = packagePath(abs);
    if (excluded(abs, rel, pkg?.tail)) return false;

    let included = false;
    for (let i = 0; i < includes.length; i++) {
      if (included && !pendingIncludes.has(i)) continue; // decided; only noting is left to do
      if (!includes[i]!(abs, rel, pkg?.tail)) continue;
      included = true;
      if (pendingIncludes.has(i)) note('include', i);
    }
    for (let i = 0; i < packages.length; i++) {
      if (included && !pendingPackages.has(i)) continue;
      if (!inPackage(i, abs, pkg)) continue;
      included = true;
      if (pendingPackages.has(i)) note('package', i);
    }
    if (included) return true;
    const inside = !rel.startsWith('../') && rel !== '..' && !path.isAbsolute(rel);
    return inside && !rel.split('/').includes('node_modules');
  };
}
