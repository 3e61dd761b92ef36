/**
 * When the ESM loader hooks are needed. `module.register()` starts Node's loader-hooks thread and
 * blocks until it is up (over 100 ms of a hello world's start-up), and on Node 20 those hooks see
 * only what the asynchronous ESM loader loads: an entry point Node runs as an ES module, and
 * whatever `import()` and the static imports under it load. `require()` of an ES module is loaded
 * synchronously without them (the CommonJS patch instruments the required file itself).
 *
 * So in a thread whose entry point Node runs as CommonJS the hooks are registered just before the
 * first CommonJS module that could reach the ESM loader is compiled (the `_compile` patch sees
 * every one, in scope or not). Anything we cannot see up front registers them at start.
 */
import fs from 'node:fs';
import path from 'node:path';
import Module from 'node:module';
import vm from 'node:vm';
import { isMainThread } from 'node:worker_threads';

/**
 * node flags that run the entry point through the ESM loader, evaluate code that is not a file
 * (-e, -p, stdin, REPL), or run something else than the script (test runner, watch mode, check).
 */
const LONG_FLAGS = [
  '--import',
  '--loader',
  '--experimental-loader',
  '--experimental-default-type',
  '--input-type',
  '--eval',
  '--print',
  '--interactive',
  '--test',
  '--watch',
  '--check',
];
/** single-letter flags of the same kinds (-e, -p, -i, -c), alone or grouped (`-pe`) */
const SHORT_FLAGS = /^-[a-zA-Z]*[epic]/;

/** Whether the hooks must be registered now (true) or may wait for the first module that needs them. */
export function hooksNeededAtStart(): boolean {
  try {
    if (!isMainThread) return true; // a worker's entry (file, URL, eval'd code) is not visible from here
    if (nodeFlags().some((f) => SHORT_FLAGS.test(f) || LONG_FLAGS.some((l) => f === l || f.startsWith(`${l}=`)))) return true;
    const main = process.argv[1];
    if (!main || main === '-') return true;
    // As Node resolves the entry point (extension search, then the real path) before it decides its format.
    const found = (Module as unknown as { _findPath(request: string, paths: null, isMain: boolean): string | false })._findPath(
      path.resolve(main),
      null,
      true,
    );
    if (!found) return true;
    const file = nodeFlags().includes('--preserve-symlinks-main') ? found : fs.realpathSync(found);
    if (file.endsWith('.cjs')) return false;
    if (file.endsWith('.mjs')) return true;
    // .js and any other extension: by the nearest package.json, as Node does. A typeless .js that
    // turns out to be ES module syntax is seen by the `_compile` patch (see mayLoadEsm).
    return packageType(path.dirname(file)) === 'module';
  } catch {
    return true;
  }
}

/** execArgv plus the flags in NODE_OPTIONS (split on blanks: a quoted value may only make us register early). */
function nodeFlags(): string[] {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].filter((f) => f.startsWith('-'));
}

function packageType(dir: string): string | undefined {
  for (let d = dir; ;) {
    if (path.basename(d) === 'node_modules') return undefined; // where Node stops looking too
    const file = path.join(d, 'package.json');
    let text: string | undefined;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      /* none here */
    }
    if (text !== undefined) {
      // Unparsable: Node fails on it in its own way; registering early changes nothing there.
      const type = (JSON.parse(text) as { type?: unknown } | null)?.type;
      return typeof type === 'string' ? type : undefined;
    }
    const up = path.dirname(d);
    if (up === d) return undefined;
    d = up;
  }
}

/**
 * Whether compiling this CommonJS-loader module could reach the ESM loader: an ES module loaded by
 * require() (its own static imports are not visible here and may call import()), any `import`
 * keyword (`import()`; in a typeless .js also import declarations and import.meta, which make Node
 * load it as an ES module), `runMain` (a launcher running another entry point, which may be an ES
 * module, through `Module.runMain()`), and for the entry point `export` or top-level `await` where it does
 * not compile as CommonJS, which makes Node run it as an ES module. A word in a comment or a string only costs the hooks' start. Missed:
 * an import() in code put together at run time without the word in any source (eval of
 * 'imp' + 'ort(...)'); the ES modules it loads run untraced.
 */
export function mayLoadEsm(source: string, format: unknown, isMain: boolean): boolean {
  if (format === 'module') return true;
  if (/\b(?:import|runMain)\b/.test(source)) return true;
  return isMain && format !== 'commonjs' && /\b(?:export|await)\b/.test(source) && !compilesAsCommonJs(source);
}

/** Whether the entry point compiles as CommonJS (in a function of the module's variables, as Node does). */
function compilesAsCommonJs(source: string): boolean {
  // a hashbang is allowed only at the very start of a script: blanked, keeping its line
  const body = source.startsWith('#!') ? `//${source.slice(2)}` : source;
  try {
    new vm.Script(`(function (exports, require, module, __filename, __dirname) {${body}\n})`);
    return true;
  } catch {
    return false;
  }
}
