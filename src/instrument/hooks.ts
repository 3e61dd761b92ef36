/**
 * installHooks(): makes every module loaded from now on go through the instrumenter. Called by the
 * trace preload in the main thread, after the runtime is on globalThis.
 *
 * Chain order matters: module hooks registered later run first. We register tsx first and our
 * ESM hook second, so ours calls tsx through `nextLoad` and instruments tsx's JavaScript output
 * (which carries an inline source map to the .ts file). CommonJS goes through `_compile`, which tsx
 * also calls with its output.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Module, { createRequire, register } from 'node:module';
import { fileURLToPath } from 'node:url';
import { createModuleTransformer, loadTransform, type TransformerSettings } from './module-transformer.js';
import { patchCommonJs } from './cjs-hook.js';
import { defaultCacheDir, openTransformCache } from './cache.js';
import { hooksNeededAtStart } from './esm-need.js';
import { oneLine } from '../util/errors.js';
import { ownVersion } from '../util/version.js';

export interface HooksConfig {
  /** globs that add files to the default scope (see scope.ts for what they are matched against) */
  include: string[];
  /** globs that remove files; they win over include and packages */
  exclude: string[];
  /** packages whose own files are traced, in whatever layout they are installed */
  packages?: string[];
  /** folder where the first match of each include pattern and package is noted (protocol.ts) */
  matchedDir?: string;
  cwd: string;
  /** where instrumented modules are cached (see defaultCacheDir); false: no cache */
  cacheDir?: string | false;
  /** run TypeScript through tsx (registered before our hooks) */
  typescript: boolean;
  /** force source-mapped stack traces on (default: leave as the user and tsx set them) */
  sourceMaps?: boolean;
  /**
   * Runs `start`, which registers the ESM hooks (and so starts Node's loader-hooks thread): at
   * once, or later from inside the program when its first module that could load an ES module is
   * compiled (see esm-need.ts). Default: just runs it.
   */
  aroundHooksStart?: (start: () => void) => void;
}

export interface InstalledHooks {
  settings: TransformerSettings;
  /** undoes the CommonJS patch (ESM hooks cannot be unregistered on Node 20) */
  uninstallCommonJs(): void;
}

const require = createRequire(import.meta.url);
const selfRoot = fileURLToPath(new URL('../../', import.meta.url));

export function installHooks(config: HooksConfig): InstalledHooks {
  // decided before we turn source maps on ourselves
  const composeMaps = config.typescript || config.sourceMaps === true || userEnabledSourceMaps();

  if (config.typescript) {
    // The transform is otherwise loaded on the first module the cache does not have; once tsx's
    // require hook is in place that load would go through tsx (compiled to CommonJS, a second copy).
    loadTransform();
    registerTsx();
  }

  const settings: TransformerSettings = {
    include: config.include,
    exclude: config.exclude,
    packages: config.packages ?? [],
    matchedDir: config.matchedDir,
    cwd: config.cwd,
    selfRoot,
    cacheDir: config.cacheDir === false ? undefined : openTransformCache(config.cacheDir ?? defaultCacheDir(config.cwd)),
    composeMaps,
    version: stackscopeVersion(),
  };

  const around = config.aroundHooksStart ?? ((start: () => void) => start());
  const startEsmHooks = () => around(() => register(new URL('./esm-hooks.js', import.meta.url).href, import.meta.url, { data: settings }));
  // tsx has registered its own ESM hooks already: the thread is running, ours cost nothing more.
  const now = config.typescript || hooksNeededAtStart();
  if (now) startEsmHooks();
  const uninstallCommonJs = patchCommonJs(createModuleTransformer(settings), now ? undefined : deferred(startEsmHooks));

  // Source maps stay as the user (or tsx) set them. Turning them on ourselves would make Node
  // format every mapped frame its own way (see `mapComment` in transform.ts).
  if (config.sourceMaps) process.setSourceMapsEnabled(true);
  return { settings, uninstallCommonJs };
}

/**
 * The deferred start of our ESM hooks, run once by the CommonJS patch (see esm-need.ts), or
 * before the program registers hooks of its own: ours come first in the chain, as when registered
 * at start. A failure is said once; the program goes on with its ES modules untraced.
 */
function deferred(start: () => void): () => void {
  type Register = (...args: unknown[]) => void;
  const api = Module as unknown as { register: Register };
  const programs = api.register;
  let pending = true;
  const once = () => {
    if (!pending) return;
    pending = false;
    if (api.register === ours) api.register = programs;
    try {
      start();
    } catch (err) {
      process.stderr.write(`stackscope: could not install the instrumenter for ES modules, they are not traced: ${oneLine(err)}\n`);
    }
  };
  // Named as Node's, for the one frame it adds to the stack of an error thrown by register().
  const ours = function register(this: unknown, ...args: unknown[]) {
    once();
    return programs.apply(this, args);
  };
  api.register = ours;
  return once;
}

/** --enable-source-maps on the command line or in NODE_OPTIONS (or already turned on by a preload). */
export function userEnabledSourceMaps(): boolean {
  const flag = '--enable-source-maps';
  return (
    (process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled === true ||
    process.execArgv.includes(flag) ||
    (process.env.NODE_OPTIONS ?? '').split(/\s+/).includes(flag)
  );
}

/**
 * tsx's ESM hooks plus its CommonJS require hook, synchronously. `require('tsx/esm/api').register()`
 * cannot be used: tsx 4.23's CommonJS build of that API resolves its hooks file relative to the
 * wrong folder (ERR_MODULE_NOT_FOUND .../dist/esm/api/esm/index.mjs), and the ESM build would make
 * this function async. `tsx/esm` is the hooks module itself (what `--import tsx` registers).
 */
function registerTsx(): void {
  register('tsx/esm', import.meta.url, { data: {} }); // tsx's initialize() insists on data
  (require('tsx/cjs/api') as { register(): unknown }).register();
  process.setSourceMapsEnabled(true); // as tsx's own register() does: stacks point into the .ts
}

/**
 * Part of the cache key: the package version plus a hash of the instrumenter's own compiled code,
 * so a changed transform never serves stale cached output, even between releases.
 */
function stackscopeVersion(): string {
  const h = createHash('sha256');
  try {
    h.update(ownVersion());
    const here = path.dirname(fileURLToPath(import.meta.url));
    for (const f of fs
      .readdirSync(here)
      .filter((n) => n.endsWith('.js'))
      .sort())
      h.update(fs.readFileSync(path.join(here, f)));
  } catch {
    h.update('unknown');
  }
  return h.digest('hex').slice(0, 16);
}
