/**
 * The recorder's hooks (en/ex for calls, fn/su/re/fx for async functions and generators) are
 * called from traced functions, never inlined into them (recorder/runtime.ts, "Called, never
 * inlined": out of line, traced tsc and prettier took 10-13 % less time). V8 reports its inlining
 * decisions with --trace-turbo-inlining; the fixture's own small function being inlined, and V8
 * saying it would not consider each hook, show that the report was read whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const ROOT = path.resolve(import.meta.dirname, '..');
const CLI = path.join(ROOT, 'dist/cli/index.js');

const HOOKS = ['en', 'ex', 'fn', 'su', 're', 'fx'];

test("V8 inlines a traced program's small functions into each other, and the recorder's hooks into none", (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-inline-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  // V8's report goes to a file: on a pipe, which Node makes non-blocking, V8's buffered writes can lose lines.
  const reportFile = path.join(tmp, 'v8-report.txt');
  const fd = fs.openSync(reportFile, 'w');
  let r;
  try {
    r = spawnSync(
      process.execPath,
      [CLI, 'trace', '--node-arg=--trace-turbo-inlining', '-o', path.join(tmp, 'trace.json'), 'fixtures/trace/inlining.mjs'],
      { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', fd, 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } },
    );
  } finally {
    fs.closeSync(fd);
  }
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^sum 95020550000$/m, 'the program ran as untraced');
  const report = fs.readFileSync(reportFile, 'utf8');
  // "Inlining 0x… {0x… <SharedFunctionInfo leaf>} into 0x… {0x… <SharedFunctionInfo mid>}"
  const inlined = [...report.matchAll(/^Inlining .*?<SharedFunctionInfo ?(\w*)>.*? into .*?<SharedFunctionInfo ?(\w*)>/gm)].map(
    (m) => `${m[1]} into ${m[2] || '(top level)'}`,
  );
  assert.ok(inlined.includes('leaf into mid'), `V8 inlined the fixture's leaf() into mid(): ${inlined.join(', ')}`);
  const recorder = inlined.filter((s) => HOOKS.includes(s.split(' ')[0]!) && /into (leaf|mid|step|evens|\(top level\))$/.test(s));
  assert.deepEqual(recorder, [], 'the hooks are called, not inlined into traced functions');
  // "Cannot consider 0x… {0x… <SharedFunctionInfo en>} for inlining (reason: …)"
  for (const fn of HOOKS) {
    assert.match(report, new RegExp(`^Cannot consider .*<SharedFunctionInfo ${fn}>.* for inlining`, 'm'), `V8 would not inline ${fn}()`);
  }
});
