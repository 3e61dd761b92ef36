// End-to-end: real node processes with the hooks installed by fixtures/instrument/test-preload.mjs
// (a recording stub runtime + installHooks from dist; run `npx tsc -p .` first). Each fixture's
// stdout, stderr and exit code must match the untraced run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const preload = path.join(root, 'fixtures/instrument/test-preload.mjs');

interface Run {
  stdout: string;
  stderr: string;
  status: number | null;
  record?: any;
}

function node(args: string[], env: Record<string, string> = {}): Run {
  const out = path.join(os.tmpdir(), `ss-instr-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  const r = spawnSync(process.execPath, args, {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '', STACKSCOPE_TEST_OUT: out, ...env },
  });
  const record = fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, 'utf8')) : undefined;
  fs.rmSync(out, { force: true });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status, record };
}
const traced = (fixture: string, env: Record<string, string> = {}) => node(['--import', preload, `fixtures/instrument/${fixture}`], env);

/**
 * For a CommonJS entry, registering ESM hooks makes Node load it through its ESM translator, and
 * our `_compile` wrapper is one more frame: only those node-internal frames may differ.
 */
const withoutLoaderFrames = (s: string) =>
  s
    .split('\n')
    .filter((l) => !/^\s+at .*(node:internal|cjs-hook\.js)/.test(l))
    .join('\n');

test('CommonJS: classes, getters, generators, async; same output and exit code', () => {
  const plain = node(['fixtures/instrument/cjs/app.js']);
  const t = traced('cjs/app.js');
  assert.deepEqual([t.stdout, t.stderr, t.status], [plain.stdout, plain.stderr, plain.status]);
  assert.equal(t.status, 3);
  assert.deepEqual(t.record.calls, {
    main: 1,
    fib: 177,
    'Shape.of': 1,
    Shape: 2,
    'Shape.get label': 1,
    Square: 1,
    'Square.area': 1,
    range: 1,
    double: 4,
    '(anonymous)': 2,
  });
});

test('CommonJS: uncaught error output identical (apart from loader frames)', () => {
  // Any --import (even an empty one) makes Node run a CommonJS entry through its ESM loader, which
  // moves the caret of the uncaught-error excerpt from `throw` to `new`: that is the baseline.
  const empty = path.join(root, 'fixtures/instrument/empty-preload.mjs');
  const plain = node(['--import', empty, 'fixtures/instrument/cjs/throw.js']);
  const t = traced('cjs/throw.js');
  assert.equal(t.status, plain.status);
  assert.equal(t.stdout, plain.stdout);
  assert.equal(withoutLoaderFrames(t.stderr), withoutLoaderFrames(plain.stderr));
  assert.deepEqual(t.record.calls, { inner: 1, outer: 1 });
});

test('ESM: live bindings, for await over async generators, concurrency', () => {
  const plain = node(['fixtures/instrument/esm/app.mjs']);
  const t = traced('esm/app.mjs');
  assert.deepEqual([t.stdout, t.stderr, t.status], [plain.stdout, plain.stderr, plain.status]);
  assert.match(t.stdout, /live binding 2/);
  assert.deepEqual(t.record.calls, { increment: 2, worker: 2, ticks: 2 });
  assert.equal(t.record.suspends, t.record.resumes);
});

test('ESM: uncaught error output byte-identical', () => {
  const plain = node(['fixtures/instrument/esm/throw.mjs']);
  const t = traced('esm/throw.mjs');
  assert.deepEqual([t.stdout, t.stderr, t.status], [plain.stdout, plain.stderr, plain.status]);
});

test("syntax error: one stackscope line, then Node's own error, same exit code", () => {
  const plain = node(['fixtures/instrument/esm/bad.mjs']);
  const t = traced('esm/bad.mjs');
  assert.equal(t.status, plain.status);
  const [first, ...rest] = t.stderr.split('\n');
  assert.match(first!, /^stackscope: cannot instrument \/.*fixtures\/instrument\/esm\/bad\.mjs:3:0: Unexpected token \(left untraced\)$/);
  assert.equal(rest.join('\n'), plain.stderr);
});

test('TypeScript through tsx: output identical to `node --import tsx`, positions in the .ts', () => {
  const plain = node(['--import', 'tsx', 'fixtures/instrument/ts/app.ts']);
  const t = traced('ts/app.ts', { SS_TS: '1' });
  assert.deepEqual([t.stdout, t.stderr, t.status], [plain.stdout, plain.stderr, plain.status]);
  const util = t.record.modules.find((m: any) => m.file.endsWith('util.ts'));
  assert.deepEqual(util.fns, ['Vec\t3\t2', 'Vec.get length\t4\t2', 'Vec.add\t5\t2', 'scale\t7\t21']);
  assert.equal(t.record.calls.greet, 1);
});

test('TypeScript: uncaught error output byte-identical to tsx', () => {
  const plain = node(['--import', 'tsx', 'fixtures/instrument/ts/throw.ts']);
  const t = traced('ts/throw.ts', { SS_TS: '1' });
  assert.deepEqual([t.stdout, t.stderr, t.status], [plain.stdout, plain.stderr, plain.status]);
  assert.deepEqual(t.record.calls, { check: 2, '(anonymous)': 2 });
});

test('disk cache: second run reads the cache and behaves the same', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-cache-'));
  try {
    const first = traced('esm/app.mjs', { SS_CACHE_DIR: dir });
    const entries = fs.readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.js'));
    assert.equal(entries.length, 2);
    const second = traced('esm/app.mjs', { SS_CACHE_DIR: dir });
    assert.deepEqual([second.stdout, second.record.calls], [first.stdout, first.record.calls]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('scope: node_modules excluded by default, added with --include', () => {
  const t = traced('esm/app.mjs', { SS_INCLUDE: 'fixtures/instrument/esm/lib.mjs' });
  assert.equal(t.record.modules.length, 2);
});

test('ESM import cycle: hoisted functions called before their module ran (no TDZ error)', () => {
  const plain = node(['fixtures/instrument/esm/cycle/a.mjs']);
  const t = traced('esm/cycle/a.mjs');
  assert.deepEqual([t.stdout, t.stderr, t.status], [plain.stdout, plain.stderr, plain.status]);
  assert.equal(t.stdout, 'helper(b) default later\n');
  assert.deepEqual(t.record.calls, { helper: 1, default: 1, later: 1 });
});

// Real packages pulled into the scope (fixtures/instrument/real): same stdout, stderr and exit
// code as the untraced run, and the package's own functions show up in the record.
const real = (fixture: string, include: string[], args: string[] = []) => {
  const plain = node([`fixtures/instrument/real/${fixture}`, ...args]);
  const t = node(['--import', preload, `fixtures/instrument/real/${fixture}`, ...args], { SS_INCLUDE: include.join(',') });
  assert.deepEqual([t.stdout, t.stderr, t.status], [plain.stdout, plain.stderr, plain.status]);
  const callsIn = (prefix: string) => {
    const names = new Set(
      t.record.modules.filter((m: any) => m.file.includes(prefix)).flatMap((m: any) => m.fns.map((f: string) => f.split('\t')[0])),
    );
    return Object.entries(t.record.calls as Record<string, number>)
      .filter(([n]) => names.has(n))
      .reduce((a, [, c]) => a + c, 0);
  };
  return { plain, t, callsIn };
};

test('yargs CLI: commands, validation failure and --help behave the same traced', () => {
  const include = ['node_modules/yargs/**', 'node_modules/yargs-parser/**', 'node_modules/cliui/**', 'node_modules/y18n/**'];
  const ok = real('yargs-cli.cjs', include, ['sum', '1', '2', '3.5', '--tags', 'b', 'a']);
  assert.match(ok.t.stdout, /^sum 6.5\n\{"level":"low","tags":\["a","b"\]/);
  assert.ok(ok.callsIn('node_modules/yargs/') > 100 && ok.callsIn('node_modules/yargs-parser/') > 10);
  const bad = real('yargs-cli.cjs', include, ['sum', '1', '--level', 'high']);
  assert.equal(bad.t.status, 1);
  assert.match(bad.t.stderr, /high needs --tags/);
  const help = real('yargs-cli.cjs', include, ['--help']);
  assert.match(help.t.stdout, /greet <name> \[times\]/);
  assert.ok(help.callsIn('node_modules/cliui/') > 10);
});

test("acorn-walk over acorn's own source, traced", () => {
  const r = real('acorn-parse.mjs', ['node_modules/acorn-walk/**']);
  assert.match(r.t.stdout, /^nodes \d+/);
  assert.ok(r.callsIn('node_modules/acorn-walk/') > 10_000);
});

test('ws: client and server exchange on 127.0.0.1, traced', () => {
  const r = real('ws-echo.mjs', ['node_modules/ws/**']);
  assert.match(r.t.stdout, /client: close 4000 done HELLO \| XXXXXXXXXXXX \| binary 4\n/);
  assert.ok(r.callsIn('node_modules/ws/') > 100);
});

test('the DevTools trace engine (ES modules with cycles) parsing a trace, traced', () => {
  const r = real('trace-engine.mjs', ['node_modules/@paulirish/trace_engine/**']);
  assert.match(r.t.stdout, /main: 399 entries/);
  assert.ok(r.t.record.modules.length > 50);
  // the package ships maps with the .ts sources inlined: modules are named by their .ts
  assert.ok(r.callsIn('/models/trace/') > 10_000);
});

test('a shipped map to sources that were not shipped: functions keep their .js positions', () => {
  const t = traced('esm/unshipped/lib.mjs');
  assert.equal(t.stdout, '42\n');
  assert.equal(t.record.modules.length, 1);
  assert.match(t.record.modules[0].file, /fixtures\/instrument\/esm\/unshipped\/lib\.mjs$/);
  assert.deepEqual(t.record.modules[0].fns, ['shipped\t1\t7']);
});
