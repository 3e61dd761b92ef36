/**
 * The recorder's entry and exit are called from traced functions, never inlined into them
 * (recorder/runtime.ts, "Called, never inlined": inlined, they made traced tsc and prettier 10-13 % slower).
 * V8 reports its inlining decisions with --trace-turbo-inlining; the fixture's own small function
 * being inlined shows that the report was read right.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const ROOT = path.resolve(import.meta.dirname, '..');
const CLI = path.join(ROOT, 'dist/cli/index.js');

test("V8 inlines a traced program's small functions into each other, and the recorder into none", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-inline-'));
  const out = path.join(tmp, 'trace.json');
  const r = spawnSync(process.execPath, [CLI, 'trace', '--node-arg=--trace-turbo-inlining', '-o', out, 'fixtures/trace/inlining.mjs'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  assert.equal(r.status, 0, r.stderr);
  // V8 writes its report to stdout too, in its own buffered chunks: the program's line may land anywhere.
  assert.match(r.stdout, /sum 90000300000\n/, 'the program ran as untraced');
  // "Inlining 0x… {0x… <SharedFunctionInfo leaf>} into 0x… {0x… <SharedFunctionInfo mid>}"
  const inlined = [...r.stdout.matchAll(/^Inlining .*?<SharedFunctionInfo ?(\w*)>.*? into .*?<SharedFunctionInfo ?(\w*)>/gm)].map(
    (m) => `${m[1]} into ${m[2] || '(top level)'}`,
  );
  assert.ok(inlined.includes('leaf into mid'), `V8 inlined the fixture's leaf() into mid(): ${inlined.join(', ')}`);
  const recorder = inlined.filter((s) => /^(en|ex) into (leaf|mid|\(top level\))$/.test(s));
  assert.deepEqual(recorder, [], 'en() and ex() are called, not inlined into traced functions');
  fs.rmSync(tmp, { recursive: true, force: true });
});
