/**
 * Finding a script's source map from its file on disk (what `sample`, `trace --sample` and the
 * agent do for every script in a profile): only the file's end is read, and the answer is the same
 * as reading the whole file would give, for big scripts with and without a map, for an inline map
 * longer than the part read, and for a comment that is not on the last line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { findMapComment, readMapRef } from '../src/util/source-map-ref.js';
import { diskSourceMaps, mapCallFrame } from '../src/sample/source-maps.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-mapref-'));
const write = (name: string, text: string): string => {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text);
  return p;
};
/** ~1 MB of code, many lines */
const bulk = 'function f(a) { return a + 1; }\n'.repeat(32_000);
const MAX = 64 << 20;

test('a script is searched for its map comment from its end, with the answer the whole file gives', () => {
  const inlineMap =
    'data:application/json;base64,' +
    Buffer.from(JSON.stringify({ version: 3, sources: ['a.ts'], names: [], mappings: 'AAAA'.repeat(40_000) })).toString('base64');
  const cases: Array<[string, string, string | undefined]> = [
    ['none.js', bulk, undefined],
    ['external.js', `${bulk}//# sourceMappingURL=external.js.map\n`, 'external.js.map'],
    ['trailing-space.js', `${bulk}//# sourceMappingURL=t.js.map\n\n  \n`, 't.js.map'],
    ['legacy.js', `${bulk}//@ sourceMappingURL=legacy.js.map`, 'legacy.js.map'],
    // the comment is not the last line: no map (as Node and the browsers read it)
    ['not-last.js', `//# sourceMappingURL=early.js.map\n${bulk}`, undefined],
    // an inline map far longer than the end that is read first
    ['inline.js', `${bulk}//# sourceMappingURL=${inlineMap}\n`, inlineMap],
    ['small.js', '//# sourceMappingURL=small.js.map', 'small.js.map'],
    ['empty.js', '', undefined],
  ];
  for (const [name, text, want] of cases) {
    const file = write(name, text);
    assert.equal(readMapRef(file, MAX), want, name);
    assert.equal(readMapRef(file, MAX), findMapComment(text)?.url, `${name}: as the whole file says`);
  }
  // A comment followed by many spaces and then more code is no comment, found in linear time
  // (the pattern once took time growing with the square of the spaces: minutes for 64 KiB).
  const spaces = write('spaces.js', `${bulk}//# sourceMappingURL=a.map${' '.repeat(60_000)}x\u0085`);
  const t0 = performance.now();
  assert.equal(readMapRef(spaces, MAX), undefined);
  assert.equal(findMapComment(fs.readFileSync(spaces, 'utf8')), undefined);
  assert.ok(performance.now() - t0 < 1000, `${(performance.now() - t0).toFixed(0)} ms`);
  // A last line longer than the part read, in a file over the limit: not read at all.
  assert.equal(readMapRef(path.join(tmp, 'inline.js'), 1 << 20), undefined);
  assert.throws(() => readMapRef(path.join(tmp, 'missing.js'), MAX), /ENOENT/);
});

test('a profiled frame of a big generated script is mapped through the map its last line names', () => {
  // generated line 32,001 (0-based 32,000), column 9 ← original a.ts line 3, column 2
  const map = { version: 3, sources: ['a.ts'], names: [], mappings: ';'.repeat(32_000) + 'SAEE' };
  write('gen.js.map', JSON.stringify(map));
  const gen = write('gen.js', `${bulk}function g() {}\n//# sourceMappingURL=gen.js.map\n`);
  const frame = { functionName: 'g', scriptId: '1', url: pathToFileURL(gen).href, lineNumber: 32_000, columnNumber: 10 };
  const mapped = mapCallFrame(frame, diskSourceMaps());
  assert.equal(mapped.url, pathToFileURL(path.join(tmp, 'a.ts')).href);
  assert.equal(mapped.lineNumber, 2);
  // no map: the frame stays as V8 gave it
  const plain = write('plain.js', bulk);
  const unmapped = { ...frame, url: pathToFileURL(plain).href };
  assert.deepEqual(mapCallFrame(unmapped, diskSourceMaps()), unmapped);
});
