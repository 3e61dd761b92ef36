/**
 * Files stackscope writes or runs cannot be turned against the user (who is often root): a
 * transform cache that others could have written is not run, and a symbolic link planted at an
 * output path or a temporary name is replaced, never followed.
 * Real `stackscope trace` processes; needs dist/ (npm test builds it first).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readTraceFile } from '../src/formats/trace-event.js';
import { checkWritable, replaceFile } from '../src/util/output-file.js';
import { writeDiffFolded } from '../src/bench/outputs.js';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const cli = path.join(root, 'dist/cli/index.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-safe-files-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;
let seq = 0;

/** A project folder without node_modules, so the cache goes to $XDG_CACHE_HOME/stackscope. */
function project(): { dir: string; cache: string } {
  const dir = path.join(tmp, `p${seq++}`);
  fs.mkdirSync(path.join(dir, 'work'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'work/lib.mjs'), 'export function add(a, b) { return a + b; }\n');
  fs.writeFileSync(
    path.join(dir, 'work/app.mjs'),
    "import { add } from './lib.mjs';\nfunction total(xs) { return xs.reduce(add, 0); }\nconsole.log('total', total([1, 2, 3]));\n",
  );
  return { dir, cache: path.join(dir, 'xdg/stackscope') };
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  out: string;
}

function trace(dir: string, out = path.join(dir, `trace${seq++}.json`)): Run {
  const r = spawnSync(process.execPath, [cli, 'trace', '-o', out, 'app.mjs'], {
    cwd: path.join(dir, 'work'),
    encoding: 'utf8',
    env: { ...process.env, XDG_CACHE_HOME: path.join(dir, 'xdg'), NODE_OPTIONS: '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, out };
}

const cacheEntries = (cache: string) =>
  fs
    .readdirSync(cache, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.js'))
    .map((f) => path.join(cache, f));

/** Replaces every cached module with code that announces itself. */
function plant(cache: string): string[] {
  const entries = cacheEntries(cache);
  for (const e of entries) fs.writeFileSync(e, "console.log('PLANTED');\n");
  return entries;
}

const warnings = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('stackscope: not using the transform cache'));
/** Names of the traced functions, without their `(file:line)`. */
const traced = (file: string) =>
  new Set(
    readTraceFile(file)
      .traceEvents.filter((e) => e.ph === 'X')
      .map((e) => e.name.split(' (')[0]),
  );

test("cache: lives in the user's own cache folder (0700), and a planted entry there is what runs next", () => {
  const { dir, cache } = freshCache();
  assert.equal(cacheEntries(cache).length, 2);
  assert.equal(fs.statSync(cache).mode & 0o777, 0o700);
  for (const e of cacheEntries(cache)) assert.equal(fs.statSync(e).mode & 0o777, 0o600);
  // The control for the tests below: the cache is really read, so a planted entry in a folder
  // stackscope trusts is run. Only the owner can plant there.
  plant(cache);
  const r = trace(dir);
  assert.match(r.stdout, /PLANTED/);
  assert.equal(warnings(r.stderr).length, 0, r.stderr);
});

/**
 * One project, traced once to fill its cache; each test starts from a copy of that cache (the
 * cache key holds the module's path, so the project itself cannot be copied).
 */
let shared: { dir: string; cache: string; pristine: string } | undefined;
function freshCache(): { dir: string; cache: string } {
  if (!shared) {
    const p = project();
    const first = trace(p.dir);
    assert.equal(first.status, 0, first.stderr);
    shared = { ...p, pristine: path.join(p.dir, 'pristine') };
    fs.cpSync(p.cache, shared.pristine, { recursive: true });
  }
  fs.rmSync(shared.cache, { recursive: true, force: true });
  fs.cpSync(shared.pristine, shared.cache, { recursive: true });
  return shared;
}

function refusedRun(spoil: (cache: string, entries: string[]) => void): void {
  const { dir, cache } = freshCache();
  spoil(cache, plant(cache));
  const r = trace(dir);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'total 6\n', 'the planted code did not run; the program behaves as untraced');
  assert.equal(warnings(r.stderr).length, 1, r.stderr);
  assert.ok(traced(r.out).has('total') && traced(r.out).has('add'), 'the trace still works, uncached');
}

test('cache: a folder writable by others is refused, once, and the program runs uncached', () => {
  refusedRun((cache) => fs.chmodSync(cache, 0o777));
});

test('cache: a folder owned by another user is refused', { skip: !isRoot && 'needs root to chown' }, () => {
  refusedRun((cache) => fs.chownSync(cache, NOBODY, NOBODY));
});

test("cache: an entry owned by another user in the user's own folder is refused", { skip: !isRoot && 'needs root to chown' }, () => {
  refusedRun((_cache, entries) => {
    for (const e of entries) fs.chownSync(e, NOBODY, NOBODY);
  });
});

test('cache: an entry that is a symbolic link is not followed', () => {
  refusedRun((cache, entries) => {
    const planted = path.join(cache, '..', 'planted.js');
    fs.writeFileSync(planted, "console.log('PLANTED');\n");
    for (const e of entries) {
      fs.rmSync(e);
      fs.symlinkSync(planted, e);
    }
  });
});

test('-o at a symbolic link: the link is replaced by the trace, its target is left intact', () => {
  const { dir } = project();
  const victim = path.join(dir, 'victim.txt');
  fs.writeFileSync(victim, 'precious\n');
  const out = path.join(dir, 'out.json');
  fs.symlinkSync(victim, out);
  const dangling = path.join(dir, 'out2.json');
  const nowhere = path.join(dir, 'created-through-link');
  fs.symlinkSync(nowhere, dangling);

  const r = trace(dir, out);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
  assert.ok(!fs.lstatSync(out).isSymbolicLink() && traced(out).has('total'));

  assert.equal(trace(dir, dangling).status, 0);
  assert.ok(!fs.existsSync(nowhere), 'nothing is created through a dangling link');
  assert.ok(traced(dangling).has('add'));
});

test('checkWritable does not create anything through a planted link', () => {
  const { dir } = project();
  const link = path.join(dir, 'link.json');
  fs.symlinkSync(path.join(dir, 'missing'), link);
  checkWritable(link, 'trace');
  assert.ok(!fs.existsSync(path.join(dir, 'missing')), 'the link target was not created');
  assert.ok(fs.lstatSync(link).isSymbolicLink());
  assert.deepEqual(fs.readdirSync(dir).sort(), ['link.json', 'work'], 'no probe file left behind');
});

test('temporary files: unpredictable names, created exclusively; links at the old fixed name are not followed', () => {
  const { dir } = project();
  const victim = path.join(dir, 'victim.txt');
  fs.writeFileSync(victim, 'precious\n');
  const target = path.join(dir, 'profile.json');
  // What an attacker could plant before: the temp name was `.<name>.<pid>.tmp`.
  fs.symlinkSync(victim, path.join(dir, `.profile.json.${process.pid}.tmp`));
  const names: string[] = [];
  for (let i = 0; i < 2; i++) {
    replaceFile(target, (t) => {
      names.push(t);
      assert.equal(fs.readFileSync(t, 'utf8'), '', 'a fresh, empty file of our own');
      fs.writeFileSync(t, `run ${i}\n`);
    });
  }
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
  assert.equal(fs.readFileSync(target, 'utf8'), 'run 1\n');
  assert.notEqual(names[0], names[1]);
  for (const n of names) assert.match(path.basename(n), /^\.profile\.json\.[0-9a-f]{16}\.tmp$/);
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [`.profile.json.${process.pid}.tmp`],
    'no temp file left behind',
  );
});

test('bench outputs: a link planted at an output name is replaced, not followed', () => {
  const { dir } = project();
  const victim = path.join(dir, 'victim.txt');
  fs.writeFileSync(victim, 'precious\n');
  const a = path.join(dir, 'a.folded');
  const b = path.join(dir, 'b.folded');
  fs.writeFileSync(a, 'main;f 3\n');
  fs.writeFileSync(b, 'main;f 5\n');
  const diff = path.join(dir, 'diff.a.b.folded');
  fs.symlinkSync(victim, diff);
  const written = writeDiffFolded(dir, { a, b }, 'a');
  assert.equal(written.b, diff);
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
  assert.equal(fs.readFileSync(diff, 'utf8'), 'main;f 3 5\n');
});
