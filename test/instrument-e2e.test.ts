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

interface Run { stdout: string; stderr: string; status: number | null; record?: any }

function node(args: string[], env: Record<string, string> = {}): Run {
  const out = path.join(os.tmpdir(), `ss-instr-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', STACKSCOPE_TEST_OUT: out, ...env } });
  const record = fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, 'utf8')) : undefined;
  fs.rmSync(out, { force: true });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status, record };
}
const traced = (fixture: string, env: Record<string, string> = {}) => node(['--import', preload, `fixtures/instrument/${fixture}`], env);

/**
 * For a CommonJS entry, registering ESM hooks makes Node load it through its ESM translator, and
 * our `_compile` wrapper is one more frame: only those node-internal frames may differ.
 */
const withoutLoaderFrames = (s: string) => s.split('\n').filter((l) => !/^\s+at .*(node:internal|cjs-hook\.js)/.test(l)).join('\n');

test('CommonJS: classes, getters, generators, async; same output and exit code', () => {
  const plain = node(['fixtures/instrument/cjs/app.js']);
  const t = traced('cjs/app.js');
  assert.deepEqual([t.stdout, t.stderr, t.status], [plain.stdout, plain.stderr, plain.status]);
  assert.equal(t.status, 3);
  assert.deepEqual(t.record.calls, { main: 1, fib: 177, 'Shape.of': 1, Shape: 2, 'Shape.get label': 1, Square: 1, 'Square.area': 1, range: 1, double: 4, '(anonymous)': 2 });
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

test('syntax error: one stackscope line, then Node\'s own error, same exit code', () => {
  const plain = node(['fixtures/instrument/esm/bad.mjs']);
  const t = traced('esm/bad.mjs');
  assert.equal(t.status, plain.status);
  const [first, ...rest] = t.stderr.split('\n');
  assert.match(first!, /^stackscope: cannot instrument \/.*fixtures\/instrument\/esm\/bad\.mjs:3:0: Unexpected token \(loaded untraced\)$/);
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
