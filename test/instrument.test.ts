// Semantics of the source transform: each test runs the same code plain and instrumented (with a
// recording stub runtime on globalThis) and asserts identical behaviour plus the recorded calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { instrument, InstrumentSyntaxError } from '../src/instrument/transform.ts';

type Event = [string, ...unknown[]];

/** A stub runtime: records enter/exit and suspend/resume, checks that segments pair up. */
function installStub() {
  const names: string[] = [];
  const events: Event[] = [];
  let depth = 0;
  let maxDepth = 0;
  const rt = {
    reg(_file: string, fns: string[]) {
      const base = names.length;
      for (const f of fns) names.push(f.split('\t')[0]!);
      return base;
    },
    en() {
      depth++;
      maxDepth = Math.max(maxDepth, depth);
      return depth;
    },
    ex(id: number, token: number) {
      assert.equal(token, depth, 'ex pairs with en');
      depth--;
      events.push(['call', names[id]]);
    },
    fn(id: number, kind: number) {
      events.push(['fn', names[id], kind]);
      return { name: names[id], suspended: false, seg: 0 };
    },
    su(f: any, v: unknown) {
      assert.equal(f.suspended, false, `su while suspended (${f.name})`);
      f.suspended = true;
      events.push(['su', f.name]);
      return v;
    },
    re(f: any, v?: unknown) {
      if (f.suspended) {
        f.suspended = false;
        f.seg++;
        events.push(['re', f.name]);
      }
      return v;
    },
    fx(f: any) {
      events.push(['fx', f.name]);
    },
  };
  (globalThis as any).__stackscope = rt;
  return {
    events,
    names,
    get maxDepth() {
      return maxDepth;
    },
    calls: (n: string) => events.filter((e) => e[0] === 'call' && e[1] === n).length,
  };
}

/** Evaluates CommonJS-style code (`return` allowed) and returns what it returns. */
function run(code: string): unknown {
  return new Function(code)();
}
function both(src: string) {
  const stub = installStub();
  const out = instrument(src, { file: '/virtual/test.js', format: 'commonjs', composeMaps: false });
  const traced = run(out.code);
  const plain = run(src);
  return { plain, traced, stub, out };
}
async function bothAsync(src: string) {
  const stub = installStub();
  const out = instrument(src, { file: '/virtual/test.js', format: 'commonjs', composeMaps: false });
  const traced = await run(out.code);
  const plain = await run(src);
  return { plain, traced, stub, out };
}

test('return values and thrown errors', () => {
  const { plain, traced, stub } = both(`
    function add(a, b) { return a + b }
    const boom = () => { throw new RangeError('no') };
    function tryIt() { try { boom(); } catch (e) { return e.name + ':' + e.message } }
    const obj = () => ({ a: 1 });
    const multi = () =>
      add(1, 2);
    return [add(2, 3), tryIt(), obj(), multi()];`);
  assert.deepEqual(traced, plain);
  assert.deepEqual(traced, [5, 'RangeError:no', { a: 1 }, 3]);
  assert.equal(stub.calls('add'), 2);
  assert.equal(stub.calls('boom'), 1);
  assert.equal(stub.calls('multi'), 1);
});

test('this, arguments, new.target', () => {
  const { plain, traced } = both(`
    function who() { return [this && this.tag, arguments.length, [...arguments].join(), new.target === who] }
    const o = { tag: 'o', who };
    function Outer() { const arrow = () => [this.tag, arguments[0], new.target === Outer]; return arrow(); }
    return [o.who(1, 2), new who(), Reflect.apply(Outer, { tag: 't' }, ['x']), JSON.stringify(new Outer('y'))];`);
  assert.deepEqual(traced, plain);
});

test('super calls, super.x, derived constructors, static and private methods', () => {
  const { plain, traced, stub } = both(`
    class Base { constructor(v) { this.v = v } get x() { return 'base-x' } hi() { return 'hi ' + this.v } static make() { return 'made' } }
    class Derived extends Base {
      constructor(v) { const twice = v * 2; super(twice); this.twice = twice }
      get x() { return 'derived+' + super.x }
      hi() { return super.hi() + '!' }
      #secret() { return 'priv' }
      reveal() { return this.#secret() }
      static make() { return 'derived ' + super.make() }
      field = () => this.v;
      static { this.init = 'static-block' }
    }
    const d = new Derived(2);
    return [d.v, d.x, d.hi(), d.reveal(), Derived.make(), d.field(), Derived.init];`);
  assert.deepEqual(traced, plain);
  assert.equal(stub.calls('Derived'), 1);
  assert.equal(stub.calls('Base'), 1);
  assert.equal(stub.calls('Derived.get x'), 1);
  assert.equal(stub.calls('Base.get x'), 1);
  assert.equal(stub.calls('Derived.#secret'), 1);
  assert.equal(stub.calls('Derived.make'), 1);
  assert.equal(stub.calls('Derived.field'), 1);
});

test('function name and length are untouched', () => {
  const { plain, traced } = both(`
    function f(a, b = 1, ...rest) {}
    const g = (x, { y }) => x;
    const o = { m(a) {}, get p() { return 1 } };
    return [f.name, f.length, g.name, g.length, o.m.name, o.m.length, Object.getOwnPropertyDescriptor(o, 'p').get.name];`);
  assert.deepEqual(traced, plain);
});

test('hoisting of nested function declarations, sloppy and strict', () => {
  for (const directive of ['', "'use strict';"]) {
    const { plain, traced } = both(`${directive}
      function outer() { const r = inner(); function inner() { return typeof later } function later() {} return r }
      function sloppyBlock(flag) { if (flag) { function b() { return 'b' } } return typeof b }
      return [outer(), sloppyBlock(true), typeof hoisted, hoisted()]; function hoisted() { return 'h' }`);
    assert.deepEqual(traced, plain);
  }
});

test('var and function declared with the same name: function left uninstrumented, still correct', () => {
  const { plain, traced, out } = both(`
    function legacy() { var g; function g() { return 1 } return typeof g }
    return legacy();`);
  assert.deepEqual(traced, plain);
  assert.deepEqual(
    out.functions.map((f) => f.name),
    ['g'],
  ); // legacy itself is skipped
});

test("'use strict' directive still makes the function strict", () => {
  const { plain, traced, out } = both(`
    function strict() { 'use strict'
      return this === undefined }
    function sloppy() { return this === undefined }
    return [strict(), sloppy()];`);
  assert.deepEqual(traced, plain);
  assert.deepEqual(traced, [true, false]);
  assert.match(out.code, /'use strict'; const __t\$/);
});

test('generators are lazy, and yield / yield* / bare yield pair up', () => {
  const { plain, traced, stub } = both(`
    const log = [];
    function* inner() { yield 'i1'; yield 'i2'; return 'ret' }
    function* gen(a) { log.push('started ' + a); const got = yield; log.push('got ' + got); const r = yield* inner(); yield r; try { yield 'last' } finally { log.push('cleanup') } }
    const it = gen(1);
    log.push('created');
    const seen = [it.next().value, it.next('x').value, it.next().value, it.next().value, it.next().value, it.return('early')];
    return [log, seen];`);
  assert.deepEqual(traced, plain);
  const ev = stub.events.filter((e) => e[1] === 'gen').map((e) => e[0]);
  assert.equal(ev[0], 'fn');
  assert.equal(ev.at(-1), 'fx');
  assert.equal(ev.filter((e) => e === 'su').length, ev.filter((e) => e === 're').length);
  // nothing recorded before the first next()
  const createdAt = stub.events.findIndex((e) => e[0] === 'fn' && e[1] === 'gen');
  assert.ok(createdAt >= 0);
});

test('a bare yield ended by a line break keeps its automatic semicolon', () => {
  // `yield` is a restricted production: a line break ends it, so `[`/`(` on the next line start
  // a new statement. The rewritten `...)` must not turn them into a member access or a call.
  const { plain, traced } = both(`
    const log = [];
    function* g() { yield
      [1, 2].forEach((x) => log.push(x))
      const y = yield
      (log.push('paren'))
      log.push(String(y))
    }
    const it = g(); it.next(); it.next('a'); it.next('b');
    return log;`);
  assert.deepEqual(plain, [1, 2, 'paren', 'b']);
  assert.deepEqual(traced, plain);
});

test('generator throw() resumes through catch', () => {
  const { plain, traced, stub } = both(`
    function* g() { try { yield 1 } catch (e) { return 'caught ' + e } }
    const it = g(); it.next();
    return it.throw('err');`);
  assert.deepEqual(traced, plain);
  const ev = stub.events.filter((e) => e[1] === 'g').map((e) => e[0]);
  assert.deepEqual(ev, ['fn', 'su', 're', 'fx']);
});

test('async functions: same microtask ordering, awaits pair up (nested, rejected)', async () => {
  const { plain, traced, stub } = await bothAsync(`
    const order = [];
    async function a() { order.push('a1'); await null; order.push('a2'); await (await Promise.resolve(1)); order.push('a3'); return 'A' }
    async function b() { order.push('b1'); await undefined; order.push('b2'); try { await Promise.reject(new Error('x')) } catch (e) { order.push('b-caught') } return 'B' }
    const thenable = { then(r) { order.push('thenable'); r('T') } };
    const c = async () => order.push('c ' + await thenable);
    Promise.resolve().then(() => order.push('t1')).then(() => order.push('t2')).then(() => order.push('t3')).then(() => order.push('t4'));
    return Promise.all([a(), b(), c()]).then((r) => [order, r]);`);
  assert.deepEqual(traced, plain);
  for (const name of ['a', 'b', 'c']) {
    const ev = stub.events.filter((e) => e[1] === name).map((e) => e[0]);
    assert.equal(ev[0], 'fn');
    assert.equal(ev.at(-1), 'fx');
    assert.equal(ev.filter((e) => e === 'su').length, ev.filter((e) => e === 're').length, name);
  }
});

test('for await: suspension marked before each implicit await, resumption after; break and throw', async () => {
  const { plain, traced, stub } = await bothAsync(`
    async function* source() { yield 1; yield 2; yield 3 }
    async function sum() { let s = 0; for await (const x of source()) s += x; return s }
    async function firstTwo() { const out = []; outer: for await (const x of source()) { if (x > 2) break outer; out.push(x); continue outer } return out }
    async function fails() { try { for await (const x of source()) { if (x === 2) throw new Error('stop ' + x) } } catch (e) { return e.message } }
    return Promise.all([sum(), firstTwo(), fails()]);`);
  assert.deepEqual(traced, plain);
  assert.deepEqual(traced, [6, [1, 2], 'stop 2']);
  for (const name of ['sum', 'firstTwo', 'fails']) {
    const ev = stub.events.filter((e) => e[1] === name).map((e) => e[0]);
    assert.equal(ev.filter((e) => e === 'su').length, ev.filter((e) => e === 're').length, name);
  }
  // the two sources closed early by break/throw end suspended at a yield: fx closes them
  const src = stub.events.filter((e) => e[1] === 'source').map((e) => e[0]);
  assert.equal(src.filter((e) => e === 'fx').length, 3);
  assert.equal(src.filter((e) => e === 'su').length - src.filter((e) => e === 're').length, 2);
});

test('async generator: awaits and yields of its own only', async () => {
  const { plain, traced, stub } = await bothAsync(`
    async function* ag() { const v = await 1; yield v; const inner = async () => { await null; return 2 }; yield await inner() }
    return (async () => { const out = []; for await (const v of ag()) out.push(v); return out })();`);
  assert.deepEqual(traced, plain);
  assert.equal(stub.events.filter((e) => e[1] === 'inner' && e[0] === 'su').length, 1);
});

test('getters and setters', () => {
  const { plain, traced, stub } = both(`
    const store = { _v: 1, get v() { return this._v }, set v(x) { this._v = x * 10 } };
    store.v = 2;
    return store.v;`);
  assert.deepEqual(traced, plain);
  assert.equal(stub.calls('store.set v'), 1);
  assert.equal(stub.calls('store.get v'), 1);
});

test('names, positions and nesting', () => {
  const src = [
    'function foo() { return bar() }',
    'const bar = () => baz.qux();',
    'const baz = { qux() { return [1].map(function (x) { return x }) } };',
    'a = {}; a.b = {}; a.b.c = function () {};',
    'class K { static s() {} get g() { return 1 } }',
    'return foo();',
  ].join('\n');
  const { out, stub } = both(src);
  assert.deepEqual(
    out.functions.map((f) => `${f.name}@${f.line}:${f.col}`),
    ['foo@1:0', 'bar@2:12', 'baz.qux@3:14', '(anonymous)@3:37', 'a.b.c@4:26', 'K.s@5:10', 'K.get g@5:24'],
  );
  assert.equal(stub.maxDepth, 4);
});

test('no line moves: every original line keeps its number', () => {
  const src = 'async function f(x) {\n  const y = await\n    x;\n  return y\n}\nconst g = () =>\n  1;\nreturn [f, g];';
  const { out } = both(src);
  const lines = out.code.split('\n');
  src.split('\n').forEach((line, i) => {
    const firstToken = /[\w$]+/.exec(line)?.[0] ?? '';
    assert.ok(lines[i]!.includes(firstToken), `line ${i + 1} still holds ${firstToken}`);
  });
  assert.equal(lines.length, src.split('\n').length + 2); // + the module prologue's own line and the map comment
  assert.match(lines.at(-2)!, /^var __ss\$, __ssb\$;/);
});

test('parse errors throw a typed error with the position', () => {
  assert.throws(
    () => instrument('const a = 1;\nfunction (', { file: '/x.js', format: 'commonjs', composeMaps: false }),
    (e: unknown) => e instanceof InstrumentSyntaxError && e.line === 2 && e.column === 9 && e.file === '/x.js',
  );
});

test('ESM: module prologue after the code, hashbang and top-level await untouched', async () => {
  const src = '#!/usr/bin/env node\nexport const x = await Promise.resolve(1);\nexport function f() { return x + 1 }\n';
  const stub = installStub();
  const out = instrument(src, { file: 'file:///virtual/m.mjs', format: 'module', composeMaps: false });
  assert.ok(out.code.startsWith('#!/usr/bin/env node\nexport const x = await Promise.resolve(1);\n'), out.code);
  assert.match(out.code.split('\n')[4]!, /^var __ss\$/);
  const mod = await import('data:text/javascript,' + encodeURIComponent(out.code.replace(/^#!.*/, '')));
  assert.equal(mod.f(), 2);
  assert.equal(stub.calls('f'), 1);
});

test('input source map: positions and the composed map go to the original file', async () => {
  const { transformSync } = await import('esbuild');
  const ts = 'interface P { x: number }\n\nexport function len(p: P): number {\n  return p.x;\n}\n';
  const js = transformSync(ts, { loader: 'ts', sourcemap: 'inline', sourcefile: '/src/len.ts', format: 'esm' }).code;
  const out = instrument(js, { file: '/dist/len.js', format: 'module', composeMaps: true });
  assert.equal(out.file, '/src/len.ts');
  assert.deepEqual(
    out.functions.map((f) => [f.name, f.line, f.col]),
    [['len', 3, 7]],
  );
  assert.deepEqual(out.map.sources, ['/src/len.ts']);
  const plainMap = instrument(js, { file: '/dist/len.js', format: 'module', composeMaps: false }).map;
  assert.deepEqual(plainMap.sources, ['/dist/len.js']);
});

test('ESM cycle: a hoisted function called before its module ran still works (no TDZ)', async () => {
  // b imports a, a imports b: b's body runs first and calls a's function declaration while a's
  // own lines (the prologue included) have not run yet.
  const stub = installStub();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-cycle-'));
  try {
    const files = {
      'a.mjs':
        "import { b } from './b.mjs';\nexport function helper() { return 'helper' }\nexport default function () { return 'dflt' }\nexport const a = b;\n",
      'b.mjs': "import helper2, { helper } from './a.mjs';\nexport const b = helper() + ' ' + helper2();\n",
    };
    for (const [name, src] of Object.entries(files)) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, instrument(src, { file: pathToFileURL(file).href, format: 'module', composeMaps: false }).code);
    }
    const mod = await import(pathToFileURL(path.join(dir, 'a.mjs')).href);
    assert.equal(mod.a, 'helper dflt');
    assert.equal(stub.calls('helper'), 1);
    assert.equal(stub.calls('default'), 1);
    assert.deepEqual(stub.names, ['helper', 'default']); // a registered once, on its first call
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('functions whose text runs elsewhere (page.evaluate, fn.toString()) are left untouched', async () => {
  // The text of these functions runs in a fresh vm context, where `__ss$` does not exist.
  const vm = await import('node:vm');
  (globalThis as any).vmCtx = vm;
  (globalThis as any).vmRun = (fn: (...a: unknown[]) => unknown, ...args: unknown[]) =>
    vm.runInNewContext(`(${String(fn)})(...args)`, { args });
  const { plain, traced, out } = await bothAsync(`
    const page = { evaluate: (fn, ...args) => vmRun(fn, ...args), $eval: (sel, fn) => vmRun(fn, sel) };
    function inject(x) { const twice = (v) => v * 2; return twice(x) }
    const viaTemplate = (n) => n + 1;
    const viaConcat = function (n) { return n + 2 };
    const kept = (n) => n * 3;
    return Promise.all([
      page.evaluate(() => typeof document),
      page.evaluate(async (a) => { await null; return [1, 2].map((v) => v + a) }, 10),
      page.$eval('#id', function (sel) { return sel.length }),
      vmCtx.runInNewContext(inject.toString() + '; inject(4)'),
      vmCtx.runInNewContext(\`(\${viaTemplate})(1)\`),
      vmCtx.runInNewContext('(' + viaConcat + ')(1)'),
      vmCtx.runInNewContext(String(inject) + ';inject(1)'),
      [inject(1), viaTemplate(1), kept(1)],
    ]);`);
  // (values made in the vm context have its prototypes: compare as JSON)
  assert.equal(JSON.stringify(traced), JSON.stringify(plain));
  assert.equal(JSON.stringify(traced), JSON.stringify(['undefined', [11, 12], 3, 8, 2, 3, 2, [2, 2, 3]]));
  assert.deepEqual(
    out.functions.map((f) => f.name),
    ['page.evaluate', 'page.$eval', 'kept'],
  );
});

test("an arrow whose body starts on the next line: that line's columns stay, and the value is the body's", () => {
  const src = [
    'const where = () =>',
    "  new Error('x').stack.split('\\n')[1];",
    'const obj = (a) =>',
    '  // a comment with => in it',
    '  ({ a });',
    'const arr = () =>',
    '  [1, 2]',
    'return [where(), obj(3), arr()];',
  ].join('\n');
  const { plain, traced, stub, out } = both(src);
  const col = (frame: string) =>
    frame
      .match(/:(\d+):(\d+)\)?$/)!
      .slice(1)
      .join(':');
  const [pw, po, pa] = plain as [string, unknown, unknown];
  const [tw, to, ta] = traced as [string, unknown, unknown];
  assert.equal(col(tw), col(pw), 'the column of the body line did not move');
  assert.deepEqual([to, ta], [po, pa]);
  assert.equal(stub.calls('where'), 1);
  assert.equal(stub.calls('obj'), 1);
  assert.equal(stub.calls('arr'), 1);
  const bodyLine = src.split('\n')[1]!.replace(/;$/, '');
  assert.ok(out.code.split('\n')[1]!.startsWith(bodyLine), 'nothing is inserted before the body on its line');
});
