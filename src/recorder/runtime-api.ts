/**
 * The contract between instrumented code and the recorder.
 *
 * The instrumenter (src/instrument) rewrites every function of a target module to call these
 * methods; the recorder (src/recorder) implements them. The object lives on
 * `globalThis.__stackscope` (installed by the preload before any target module runs), and each
 * instrumented module ends with a prologue (on a line of its own after the code, so no original
 * line changes) that registers the module's function table the first time it is needed:
 *
 *   var __ss$, __ssb$; function __ssi$() { __ss$ = globalThis.__stackscope;
 *     __ssb$ = __ss$.reg(file, ["name\tline\tcol", ...]); return __ss$; } __ss$ ?? __ssi$();
 *
 * Lazily, because in an ESM import cycle a module's function declarations can be called before
 * the module's own first line has run. Function ids are `__ssb$ + k`, k being the index of the
 * function in that table. Method names are one or two letters because they appear once per
 * function in every instrumented module.
 *
 * Plain (sync) function:
 *   function f(a) { const __t$ = (__ss$ ?? __ssi$()).en(__ssb$ + k); try { BODY } finally { __ss$.ex(__ssb$ + k, __t$); } }
 *
 * Async function, generator, async generator (kind 1, 2, 3):
 *   async function f() { const __f$ = (__ss$ ?? __ssi$()).fn(__ssb$ + k, 1); try { BODY' } finally { __ss$.fx(__f$); } }
 * where in BODY' (only the function's own awaits/yields, not nested functions'):
 *   await X   ->  __ss$.re(__f$, await __ss$.su(__f$, X))
 *   yield X   ->  __ss$.re(__f$, yield __ss$.su(__f$, X))
 *   catch (e) { ... }  and  finally { ... }  blocks start with  __ss$.re(__f$);
 * so a rejected await or a generator's .throw() still marks the resumption.
 */
export interface Frame {
  /** function id */
  id: number;
  /** 1 async function, 2 generator, 3 async generator */
  kind: number;
  /** instance number of this call (links an async call to its continuations) */
  inst: number;
  /** start of the call, µs */
  callStart: number;
  /** start of the current running segment, µs */
  segStart: number;
  /** depth of the current running segment */
  depth: number;
  /** true between su() and re() */
  suspended: boolean;
  /** number of segments so far (0 = the synchronous first segment) */
  seg: number;
}

export interface Runtime {
  /**
   * Register a module's function table; returns the base id. `file` is the original source file
   * (absolute path or URL; for TypeScript the .ts file). Entries are "name\tline\tcol" (1-based
   * line, 0-based col, in original source positions after source maps), or "name\tline\tcol\tfile"
   * when a function maps to another original file than `file` (bundles); a tab or backslash
   * inside a name or file is written as backslash + "t" or two backslashes (util/function-table.ts).
   */
  reg(file: string, fns: string[]): number;
  /**
   * Sync function entry; returns the start token. Passing the function id (optional, same id as
   * given to ex) lets the recorder close calls still running when the process exits, e.g. the
   * function that called process.exit(): `const __t$ = __ss$.en(__ssb$ + k);`.
   */
  en(id?: number): number;
  /** Sync function exit. */
  ex(id: number, token: number): void;
  /** Async / generator function entry. */
  fn(id: number, kind: number): Frame;
  /** Before an await / yield: ends the running segment. Returns v unchanged. */
  su<T>(frame: Frame, v: T): T;
  /** After an await / yield (or in a catch/finally): starts a new segment if suspended. Returns v unchanged. */
  re<T>(frame: Frame, v?: T): T;
  /** Async / generator body exit (from the finally). */
  fx(frame: Frame): void;
}

export const RUNTIME_GLOBAL = '__stackscope';

/**
 * A runtime that records nothing, for a thread stackscope does not trace but where instrumented
 * code can still run: Node's loader-hooks thread loads the program's own hooks modules through
 * our load hook, and they are in scope like any module of the program.
 */
export function inertRuntime(): Runtime {
  let base = 0;
  const frame: Frame = { id: 0, kind: 0, inst: 0, callStart: 0, segStart: 0, depth: 0, suspended: false, seg: 0 };
  return {
    reg: (_file, fns) => {
      const b = base;
      base += fns.length;
      return b;
    },
    en: () => 0,
    ex: () => {},
    fn: () => frame,
    su: (_frame, v) => v,
    re: <T>(_frame: Frame, v?: T) => v as T,
    fx: () => {},
  };
}
