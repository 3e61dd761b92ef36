/**
 * The source transform: gives every function of a module entry/exit hooks, exactly in the shape
 * documented in src/recorder/runtime-api.ts, without changing what the program does.
 *
 * Rules that keep the program identical:
 * - Only insert text, never move it, and never insert a newline inside the code (the module
 *   prologue goes on a line of its own after it): every original token stays on its line, so line
 *   numbers in stack traces are unchanged even without source maps.
 * - Parameters are untouched (function `length`, defaults, destructuring), and the hooks go after
 *   the function's own directive prologue, so `'use strict'` stays a directive.
 * - Awaited and yielded values pass through `su()` / `re()` unchanged: no extra promise, no
 *   extra microtask tick.
 * - A function whose body we cannot wrap without changing its meaning is left alone (see
 *   `wrapChangesMeaning`), and so is a function whose source text is run elsewhere, such as
 *   `page.evaluate(() => ...)` (see `findSerializedFunctions`).
 */
import { parse } from 'acorn';
import MagicString from 'magic-string';
import { forEachChild, isFunctionNode, type AnyNode } from './ast.js';
import { functionName } from './names.js';
import { PositionMapper, decodeDataUrl, findMapComment, inlineMapComment, outputMap, type RawSourceMap } from './maps.js';
import { PROLOGUE_MARK } from './markers.js';
import { wrapChangesMeaning } from './scope-check.js';
import { findSerializedFunctions } from './serialized.js';
import { encodeTableEntry } from '../util/function-table.js';

export type { RawSourceMap } from './maps.js';

export interface InstrumentOptions {
  /** absolute path or URL of the module, as the loader knows it */
  file: string;
  format: 'module' | 'commonjs';
  /** map of `source` to its original (e.g. tsx's); read from an inline comment when omitted */
  inputMap?: RawSourceMap;
  /** true: the output map goes to the original source; false: to the code as loaded */
  composeMaps: boolean;
  /**
   * 'always' (default): end the code with an inline map comment. 'with-input-map': only when the
   * code came with a map. Node formats stack frames of files that have a map differently from
   * native V8 frames (ESM URLs become paths, the uncaught-error excerpt moves its caret), so the
   * loaders keep plain JavaScript map-less: its line numbers are exact anyway.
   */
  mapComment?: 'always' | 'with-input-map';
}

/** 0 sync function, 1 async function, 2 generator, 3 async generator (runtime-api kinds). */
export type FunctionKind = 0 | 1 | 2 | 3;

export interface InstrumentedFunction {
  /** index k in the module's table: the runtime id is `base + k` */
  k: number;
  name: string;
  /** original source file (after source maps) */
  file: string;
  /** 1-based line, 0-based col, in the original source */
  line: number;
  col: number;
  kind: FunctionKind;
}

export interface InstrumentResult {
  /** instrumented code, ending with an inline source map comment */
  code: string;
  map: RawSourceMap;
  /** the file passed to `reg()`: the original source when there is an input map */
  file: string;
  functions: InstrumentedFunction[];
}

/** A module that does not parse; positions are in the original source. */
export class InstrumentSyntaxError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
    this.name = 'InstrumentSyntaxError';
  }
}

/** The function whose body we are in, as far as await/yield/try ownership goes. */
interface FnContext {
  kind: FunctionKind;
  /** false: not instrumented (or not a function: class static block, field initialiser) */
  traced: boolean;
}
const BARRIER: FnContext = { kind: 0, traced: false };

export function instrument(source: string, opts: InstrumentOptions): InstrumentResult {
  const mapComment = findMapComment(source);
  const inputMap = opts.inputMap ?? (mapComment ? decodeDataUrl(mapComment.url) : undefined);
  const mapper = new PositionMapper(inputMap, opts.file);
  const lines = lineStarts(source, !mapper.hasMap);

  let ast: AnyNode;
  try {
    ast = parse(source, {
      ecmaVersion: 'latest',
      sourceType: opts.format === 'module' ? 'module' : 'script',
      allowHashBang: true,
      allowReturnOutsideFunction: opts.format === 'commonjs',
      preserveParens: true, // so `() => ({})` bodies and `await (x)` keep their parentheses in our edits
    }) as AnyNode;
  } catch (caught) {
    const err = caught as { pos?: unknown; message?: unknown } | null;
    const pos: number = typeof err?.pos === 'number' ? err.pos : 0;
    const { line, col } = lineCol(lines, pos);
    const mapped = mapper.map(line, col);
    const message = String(err?.message ?? err).replace(/ \(\d+:\d+\)$/, '');
    throw new InstrumentSyntaxError(message, mapped?.source ?? opts.file, mapped?.line ?? line, mapped?.col ?? col);
  }

  const moduleFile = mapper.originalFile(opts.file);
  const ms = new MagicString(source);
  const functions: InstrumentedFunction[] = [];
  const ancestors: AnyNode[] = [];
  // minified code: the input map's names give the functions their original names back
  const idName = (id: AnyNode): string => {
    const { line, col } = lineCol(lines, id.start);
    return mapper.nameAt(line, col) ?? id.name;
  };

  // --- edits, applied children-first (see the note on insertion order at the end of the file) ---

  function addFunction(fn: AnyNode): FnContext {
    const kind = ((fn.async ? 1 : 0) + (fn.generator ? 2 : 0)) as FunctionKind;
    if (fn.body.type === 'BlockStatement' && wrapChangesMeaning(fn)) return BARRIER;
    const parent = ancestors[ancestors.length - 2];
    const isMember =
      parent &&
      (parent.type === 'MethodDefinition' ||
        (parent.type === 'Property' && parent.value === fn && (parent.method || parent.kind !== 'init')));
    const startPos = isMember ? parent.start : fn.start;
    const { line, col } = lineCol(lines, startPos);
    const mapped = mapper.map(line, col, false);
    // With a map, code before the first mapped token of its line was made by the tool, not the
    // user: esbuild's `__name` helper that tsx prepends. It is not worth a trace slice.
    if (mapper.hasMap && !mapped) return BARRIER;
    functions.push({
      k: functions.length,
      name: functionName(ancestors, source, idName),
      file: mapped?.source ?? moduleFile,
      line: mapped?.line ?? line,
      col: mapped?.col ?? col,
      kind,
    });
    fn.__k = functions.length - 1;
    return { kind, traced: true };
  }

  function wrapFunction(fn: AnyNode, ctx: FnContext): void {
    const k: number = fn.__k;
    // `(__ss$ ?? __ssi$())`: see `prologue` (a function may run before the prologue's line has)
    const open =
      ctx.kind === 0
        ? `const __t$ = (__ss$ ?? __ssi$()).en(__ssb$ + ${k}); try {`
        : `const __f$ = (__ss$ ?? __ssi$()).fn(__ssb$ + ${k}, ${ctx.kind}); try {`;
    const close = ctx.kind === 0 ? `} finally { __ss$.ex(__ssb$ + ${k}, __t$); }` : '} finally { __ss$.fx(__f$); }';
    const body = fn.body as AnyNode;
    if (body.type === 'BlockStatement') {
      // after the function's own directives ('use strict' must stay the first statement)
      let at = body.start + 1;
      let sep = ' ';
      const directives = (body.body as AnyNode[]).filter(
        (s, i, all) => s.directive !== undefined && all.slice(0, i).every((p) => p.directive !== undefined),
      );
      const last = directives[directives.length - 1];
      if (last) {
        at = last.end;
        if (source[last.end - 1] !== ';') sep = '; ';
      }
      ms.appendLeft(at, `${sep}${open} `);
      ms.appendLeft(body.end - 1, ` ${close} `);
    } else {
      // expression-bodied arrow: `x => EXPR` becomes `x => { ...; try { return EXPR; } finally {...} }`.
      // The opening goes right before EXPR, so `return` and EXPR share a line, unless EXPR starts on
      // a later line than `=>`: then it goes after `=>`, ending in `return (` (no semicolon can be
      // inserted after a parenthesis), and EXPR's line keeps its columns.
      const arrow = source.lastIndexOf('=>', body.start) + 2;
      if (arrow > 1 && source.slice(arrow, body.start).includes('\n') && skipTrivia(source, arrow) === body.start) {
        ms.appendLeft(arrow, ` { ${open} return (`);
        ms.appendLeft(body.end, `); ${close} }`);
      } else {
        ms.prependRight(body.start, `{ ${open} return `);
        ms.appendLeft(body.end, `; ${close} }`);
      }
    }
  }

  function rewriteAwaitOrYield(node: AnyNode): void {
    // `await X` -> `__ss$.re(__f$, await __ss$.su(__f$, X))`; same for yield and yield*.
    const keywordEnd =
      node.type === 'YieldExpression' && node.delegate ? source.indexOf('*', skipTrivia(source, node.start + 5)) + 1 : node.start + 5;
    ms.prependRight(node.start, '__ss$.re(__f$, ');
    if (node.type === 'YieldExpression' && !node.argument) {
      ms.appendLeft(keywordEnd, ' __ss$.su(__f$, void 0))');
      // A bare `yield` ends its statement at a line break (restricted production), so the original
      // relied on automatic semicolon insertion; our `)` would let a next line starting with `[`
      // or `(` continue the expression. Close the statement explicitly.
      if (endsStatementByAsi(node)) ms.appendLeft(keywordEnd, ';');
    } else {
      ms.appendLeft(keywordEnd, ' __ss$.su(__f$,');
      ms.appendLeft(node.end, '))');
    }
  }

  /** True when `node` is the last thing of a statement that has no `;` of its own. */
  function endsStatementByAsi(node: AnyNode): boolean {
    for (let i = ancestors.length - 2; i >= 0; i--) {
      const a = ancestors[i]!;
      if (a.end !== node.end) return false;
      if (/Statement$|Declaration$/.test(a.type)) return true;
    }
    return false;
  }

  function markResumeAtBlockStart(block: AnyNode): void {
    ms.appendLeft(block.start + 1, ' __ss$.re(__f$);');
  }

  /**
   * `for await (x of Y) BODY`: each iteration awaits `it.next()` implicitly, so we mark the
   * suspension before every implicit await and the resumption after it:
   *   { for await (x of __ss$.su(__f$, Y)) { __ss$.re(__f$); try { BODY } finally { __ss$.su(__f$); } } __ss$.re(__f$); }
   * The `finally` runs on normal completion, `continue`, `break`, `return` and throw, which are
   * exactly the ways to reach the next implicit await (next() or the closing return()).
   */
  function rewriteForAwait(node: AnyNode): void {
    ms.prependRight(node.right.start, '__ss$.su(__f$, ');
    ms.appendLeft(node.right.end, ')');
    ms.prependRight(node.body.start, '{ __ss$.re(__f$); try { ');
    ms.appendLeft(node.body.end, ' } finally { __ss$.su(__f$); } }');
    // wrap the loop with its labels, so `continue label` still targets the loop
    let target = node;
    for (let i = ancestors.length - 2; i >= 0 && ancestors[i]!.type === 'LabeledStatement'; i--) target = ancestors[i]!;
    ms.prependRight(target.start, '{ ');
    ms.appendLeft(target.end, ' __ss$.re(__f$); }');
  }

  // functions whose text runs elsewhere (page.evaluate(() => ...)): not a character changes inside
  const serialized = findSerializedFunctions(ast);

  function visit(node: AnyNode, ctx: FnContext | undefined): void {
    if (serialized.has(node)) return;
    ancestors.push(node);
    let inner = ctx;
    if (isFunctionNode(node)) inner = addFunction(node);
    else if (node.type === 'StaticBlock' || node.type === 'PropertyDefinition') inner = BARRIER;
    forEachChild(node, visit, inner);

    const owner = ctx && ctx.traced && ctx.kind !== 0 ? ctx : undefined;
    switch (node.type) {
      case 'FunctionDeclaration':
      case 'FunctionExpression':
      case 'ArrowFunctionExpression':
        if (inner!.traced) wrapFunction(node, inner!);
        break;
      case 'AwaitExpression':
        if (owner && owner.kind & 1) rewriteAwaitOrYield(node);
        break;
      case 'YieldExpression':
        if (owner && owner.kind & 2) rewriteAwaitOrYield(node);
        break;
      case 'TryStatement':
        // a rejected await or a generator's throw()/return() lands here without passing re()
        if (owner) {
          if (node.handler) markResumeAtBlockStart(node.handler.body);
          if (node.finalizer) markResumeAtBlockStart(node.finalizer);
        }
        break;
      case 'ForOfStatement':
        if (owner && node.await) rewriteForAwait(node);
        break;
    }
    ancestors.pop();
  }

  visit(ast, undefined);

  if (functions.length > 0) {
    const table = functions.map((f) => encodeTableEntry(f.name, f.line, f.col, f.file === moduleFile ? undefined : f.file));
    // On a line of its own after the code: every original line stays as written, so the source
    // line Node prints under an uncaught error is the program's own (hoisting makes it work there).
    ms.appendLeft(source.length, '\n' + prologue(moduleFile, table));
  }

  // the input's map comment is replaced by ours
  if (mapComment && (inputMap || opts.mapComment !== 'with-input-map'))
    ms.remove(mapComment.start, mapComment.start + source.slice(mapComment.start).trimEnd().length);
  const map = outputMap(ms, opts.file, opts.composeMaps ? inputMap : undefined);
  let code = ms.toString();
  if (opts.mapComment !== 'with-input-map' || inputMap) {
    if (!code.endsWith('\n')) code += '\n';
    code += inlineMapComment(map);
  }
  return { code, map, file: moduleFile, functions };
}

export { PROLOGUE_MARK } from './markers.js';

/**
 * The module prologue (written after the module's last line): registers the function table and
 * binds `__ss$` (the runtime) and `__ssb$` (the base id). `var` bindings and function declarations
 * exist from module instantiation, wherever they are written, so every wrapped function enters
 * through `(__ss$ ?? __ssi$())`, which registers the module on the first call whenever that is:
 * before the module's body has run (an ES module cycle: `a` imports `b`, `b` imports `a` and calls
 * `a`'s function declaration while evaluating), or while it runs; the prologue's last statement
 * registers a module none of whose functions ran.
 */
function prologue(moduleFile: string, table: string[]): string {
  return `${PROLOGUE_MARK} __ss$ = globalThis.__stackscope; __ssb$ = __ss$.reg(${jsLiteral(moduleFile)}, ${jsLiteral(table)}); return __ss$; } __ss$ ?? __ssi$();`;
}

/**
 * JSON as a JavaScript literal that stays on its line: JSON.stringify leaves U+2028/U+2029 raw,
 * and V8 counts them as line breaks, so a name holding one would move every later line.
 */
function jsLiteral(value: unknown): string {
  return JSON.stringify(value).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

/**
 * Offsets where each line starts. `asV8`: lines end where V8 ends them for Error.stack and the
 * profiler (every ECMAScript line terminator: \n, \r\n, a lone \r, U+2028, U+2029), so a plain
 * script's positions agree with V8's; otherwise at '\n' only, as source maps (and magic-string) count.
 */
function lineStarts(source: string, asV8: boolean): number[] {
  const starts = [0];
  const re = asV8 ? /\r\n?|[\n\u2028\u2029]/g : /\n/g;
  for (let m = re.exec(source); m; m = re.exec(source)) starts.push(m.index + m[0].length);
  return starts;
}

function lineCol(starts: number[], pos: number): { line: number; col: number } {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= pos) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, col: pos - starts[lo]! };
}

/** Skips whitespace and comments from `pos` (to find the `*` of `yield /* c *\/ * x`). */
function skipTrivia(source: string, pos: number): number {
  for (;;) {
    const rest = source.slice(pos, pos + 2);
    if (/^\s/.test(rest)) pos++;
    else if (rest === '/*') pos = source.indexOf('*/', pos + 2) + 2;
    else if (rest === '//') pos = source.indexOf('\n', pos);
    else return pos;
  }
}

/*
 * Note on insertion order. Several edits can land on the same offset (`async () => await x` puts
 * the arrow's opening and the await's opening at the same place). magic-string keeps them in a
 * stable order if: openings use prependRight (a later call lands before an earlier one), closings
 * and mid-node text use appendLeft (a later call lands after), and nodes are edited children
 * first. Then an outer node's opening precedes an inner one's, and its closing follows it.
 */
