/**
 * `stackscope collect` and `stackscope query` against a real SQLite file: real collector child
 * processes polling real HTTP agents (test/helpers/fake-agent.ts, protocol v2) through faults, then
 * the stored per-stack totals compared with the agents' own, exactly.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { parseFolded } from '../src/formats/folded.js';
import { decodePprof } from '../src/formats/pprof.js';
import { modelFrameLabel, type Frame } from '../src/model/index.js';
import {
  addTotals,
  cleanup,
  runCli,
  sleep,
  stackTotals,
  startAgent,
  startCollector,
  storedTotals,
  sum,
  tmpDir,
  waitFor,
  waitForTotals,
} from './helpers/collect.js';

after(cleanup);

const fast = ['--interval', '200ms', '--timeout', '1s'];

test('a collector SIGKILLed again and again mid-run loses and doubles nothing', async () => {
  const db = path.join(tmpDir('ss-collect-'), 'kill.db');
  const a = await startAgent({ seed: 11, service: 'api', periodMs: 20, perWindow: 30, pool: 2000 });
  const b = await startAgent({ seed: 12, service: 'worker', periodMs: 30, perWindow: 30, pool: 2000 });
  const args = ['--db', db, '--target', a.address, '--target', b.address, ...fast];
  let kills = 0;
  for (const delay of [900, 450, 700, 330]) {
    const c = startCollector(args);
    await waitFor('the collector to store something', () => fs.existsSync(db) && /collecting from 2 targets/.test(c.stderr()));
    await sleep(delay);
    const { signal } = await c.kill('SIGKILL');
    assert.equal(signal, 'SIGKILL');
    kills++;
  }
  // The agents produced while no collector ran; a last collector catches up from the stored cursors.
  const last = startCollector(args);
  await sleep(600);
  a.freeze();
  b.freeze();
  const ta = await a.totals();
  const tb = await b.totals();
  assert.ok(ta.producedWindows > 50 && tb.producedWindows > 30, 'the agents produced windows throughout');
  await waitForTotals(db, addTotals(ta.produced, tb.produced));
  assert.deepEqual(await storedTotals(db, { service: 'api' }), ta.produced);
  assert.deepEqual(await storedTotals(db, { service: 'worker' }), tb.produced);
  const { code } = await last.kill('SIGTERM');
  assert.equal(code, 0, last.stderr());
  assert.equal(kills, 4);
  assert.match(last.stderr(), /stopped: \d+ samples in \d+ windows read/);
});

test('an agent restarted is read from its first kept window; the windows it no longer held are reported as missed', async () => {
  const db = path.join(tmpDir('ss-collect-'), 'restart.db');
  const old = await startAgent({ seed: 21, periodMs: 20 });
  const c = startCollector(['--db', db, '--target', old.address, '--interval', '1500ms', '--timeout', '1s']);
  await waitFor('a first round', () => /collecting from 1 target/.test(c.stderr()));
  await sleep(800);
  old.freeze();
  const before = await old.totals();
  await waitForTotals(db, before.produced);
  await old.kill();
  // The new run on the same port keeps only 5 windows: by the collector's next poll, older ones are gone.
  const fresh = await startAgent({ seed: 22, periodMs: 20, history: 5, port: old.port });
  await waitFor('the restart to be reported', () => /the agent restarted/.test(c.stderr()), 20_000);
  fresh.freeze();
  const now = await fresh.totals();
  assert.ok(now.droppedUnserved > 0, 'the new run dropped windows before the collector asked');
  await waitForTotals(db, addTotals(before.produced, now.served));
  // Windows dropped after the last answer are reported by the next poll.
  const missedIn = (log: string) => [...log.matchAll(/(\d+) windows? missed/g)].reduce((n, m) => n + Number(m[1]), 0);
  await waitFor('the missed windows reported', () => missedIn(c.stderr()) === now.droppedUnserved, 10_000).catch(() => {});
  const restarted = c.stderr();
  assert.equal(missedIn(restarted), now.droppedUnserved, restarted);
  assert.match(
    restarted,
    new RegExp(`${old.address}: the agent restarted \\(now pid ${fresh.child.pid}, instance ${fresh.config.instance}\\)`),
  );
  await c.kill();
});

test('an agent that hangs and one that answers garbage: one line each, nothing stored from them, all read once they recover', async () => {
  const db = path.join(tmpDir('ss-collect-'), 'faults.db');
  const good = await startAgent({ seed: 31, service: 'good' });
  const hang = await startAgent({ seed: 32, service: 'hang' });
  const bad = await startAgent({ seed: 33, service: 'bad' });
  hang.mode('hang');
  bad.mode('garbage');
  const c = startCollector([
    '--db',
    db,
    '--target',
    good.address,
    '--target',
    hang.address,
    '--target',
    bad.address,
    '--interval',
    '200ms',
    '--timeout',
    '1s',
  ]);
  await waitFor(
    'both problems reported',
    () => c.stderr().includes(`${hang.address}: slow`) && c.stderr().includes(`${bad.address}: garbage`),
  );
  await sleep(3000); // many more polls: still one line per problem
  const during = c.stderr();
  const lines = (address: string, kind: string) => during.split('\n').filter((l) => l.includes(`${address}: ${kind}`)).length;
  assert.equal(lines(hang.address, 'slow (no answer within 1 s)'), 1, during);
  assert.equal(lines(hang.address, 'answering again'), 0, during);
  // A line when the problem starts or changes (on a loaded machine an answer can also be late), never per poll.
  assert.equal(lines(bad.address, 'garbage'), 1 + lines(bad.address, 'slow'), during);
  assert.ok((await bad.totals()).requests > 3 * lines(bad.address, 'garbage'), 'far fewer lines than polls');
  assert.deepEqual(await storedTotals(db, { service: 'bad' }), {});
  assert.deepEqual(await storedTotals(db, { service: 'hang' }), {});
  assert.ok(sum(await storedTotals(db, { service: 'good' })) > 0);
  hang.mode('ok');
  bad.mode('ok');
  await waitFor('recovery', () => (c.stderr().match(/answering again/g)?.length ?? 0) >= 2);
  for (const agent of [good, hang, bad]) agent.freeze();
  const totals = await Promise.all([good, hang, bad].map((x) => x.totals()));
  await waitForTotals(db, addTotals(...totals.map((t) => t.produced)));
  for (const [i, service] of ['good', 'hang', 'bad'].entries()) assert.deepEqual(await storedTotals(db, { service }), totals[i]!.produced);
  assert.match(c.stderr(), new RegExp(`${hang.address}: answering again \\(was slow for \\d+ polls?\\)`));
  await c.kill();
});

test('a targets file is re-read when it changes; its labels are stored and queried; query writes folded, pprof, JSON and a timeline', async () => {
  const dir = tmpDir('ss-collect-');
  const db = path.join(dir, 'fleet.db');
  const file = path.join(dir, 'targets.txt');
  const eu = await startAgent({ seed: 41, service: 'api', hostname: 'eu-1', labels: { version: '1.2' } });
  const us = await startAgent({ seed: 42, service: 'api', hostname: 'us-1' });
  fs.writeFileSync(file, `# the fleet\n${eu.address} region=eu\n`);
  const c = startCollector(['--db', db, '--targets-file', file, ...fast, '--json']);
  await waitFor('eu stored', async () => sum(await storedTotals(db)) > 0);
  fs.writeFileSync(file, `${eu.address} region=eu\n${us.address} region=us   # added\n`);
  await waitFor('the change noticed', () => /targets.txt changed: now 2 targets/.test(c.stderr()));
  await waitFor('us stored', async () => sum(await storedTotals(db, { labels: { region: 'us' } })) > 0);
  eu.freeze();
  us.freeze();
  const [te, tu] = await Promise.all([eu.totals(), us.totals()]);
  await waitForTotals(db, addTotals(te.produced, tu.produced));
  await c.kill();
  // --json: every log line is one JSON object
  for (const line of c.stderr().trim().split('\n')) assert.doesNotThrow(() => JSON.parse(line), line);

  // Folded stacks on stdout, one `frames count` line per stack, equal to the eu agent's totals.
  const q = runCli(['query', '--db', db, '--from', '-1h', '--label', 'region=eu']);
  assert.equal(q.code, 0, q.stderr);
  const folded = parseFolded(q.stdout.toString());
  const label = (frames: Frame[]) => frames.map((f) => modelFrameLabel(f).replace(/[;\r\n]/g, ',')).join(';');
  const expectEu = new Map<string, number>();
  for (const [k, n] of Object.entries(te.produced)) expectEu.set(label(JSON.parse(k)), (expectEu.get(label(JSON.parse(k))) ?? 0) + n);
  assert.deepEqual(new Map([...folded].sort()), new Map([...expectEu].sort()));
  // The agent's own labels are kept beside the file's; host and service filter too.
  assert.equal(
    sum(Object.fromEntries(parseFolded(runCli(['query', '--db', db, '--from', '-1h', '--label', 'version=1.2']).stdout.toString()))),
    sum(te.produced),
  );
  assert.equal(
    sum(Object.fromEntries(parseFolded(runCli(['query', '--db', db, '--from', '-1h', '--host', 'us-1']).stdout.toString()))),
    sum(tu.produced),
  );
  assert.equal(runCli(['query', '--db', db, '--from', '-1h', '--service', 'nope']).stdout.length, 0);

  const pb = path.join(dir, 'all.pb.gz');
  const qp = runCli(['query', '--db', db, '--from', '-1h', '-o', pb]);
  assert.equal(qp.code, 0, qp.stderr);
  assert.match(qp.stderr, new RegExp(`${sum(te.produced) + sum(tu.produced)} samples in \\d+ stacks from 2 target runs`));
  const prof = decodePprof(zlib.gunzipSync(fs.readFileSync(pb)));
  assert.equal(
    prof.sample.reduce((a, s) => a + Number(s.value[0]), 0),
    sum(te.produced) + sum(tu.produced),
  );

  const js = path.join(dir, 'us.json');
  assert.equal(runCli(['query', '--db', db, '--from', '-1h', '--label', 'region=us', '-o', js]).code, 0);
  const doc = JSON.parse(fs.readFileSync(js, 'utf8')) as {
    samples: number;
    targets: Array<{ labels: Record<string, string> }>;
    stacks: Array<{ count: number }>;
  };
  assert.equal(doc.samples, sum(tu.produced));
  assert.deepEqual(
    doc.targets.map((t) => t.labels),
    [{ region: 'us' }],
  );

  const tl = runCli(['query', '--db', db, '--from', '-10m', '--timeline']);
  assert.equal(tl.code, 0, tl.stderr);
  const points = tl.stdout
    .toString()
    .trim()
    .split('\n')
    .map((l) => l.split(' '));
  assert.ok(points.every(([t, n]) => !Number.isNaN(Date.parse(t!)) && /^\d+$/.test(n!)));
  // ten minutes in steps of 10 s, aligned to the clock (a partial first step when -10m is not aligned)
  assert.ok(points.length === 60 || points.length === 61, `${points.length} steps`);
  points.slice(1).forEach(([t], i) => assert.equal(Date.parse(t!) - Date.parse(points[i]![0]!), 10_000));
  assert.equal(
    points.reduce((a, [, n]) => a + Number(n), 0),
    sum(te.produced) + sum(tu.produced),
  );
});

test('bad input: one line and a non-zero exit', async () => {
  const dir = tmpDir('ss-collect-');
  const badFile = path.join(dir, 'bad.txt');
  fs.writeFileSync(badFile, '127.0.0.1:9000\nlocalhost:99999 region=eu\n');
  const labelFile = path.join(dir, 'label.txt');
  fs.writeFileSync(labelFile, '127.0.0.1:9000 region\n');
  const db = path.join(dir, 'q.db');
  const cases: Array<[string[], RegExp]> = [
    [
      ['collect', '--db', '/proc/nope/x.db', '--target', '127.0.0.1:9000'],
      /^stackscope: cannot create the database \/proc\/nope\/x\.db: no folder \/proc\/nope$/,
    ],
    [['collect', '--db', '/proc/version', '--target', '127.0.0.1:9000'], /^stackscope: cannot write the database \/proc\/version/],
    [['collect', '--db', db, '--target', 'nohost'], /^stackscope: bad target "nohost" in --target: give host:port/],
    [['collect', '--db', db, '--target', '127.0.0.1:0'], /^stackscope: bad port "0" in --target/],
    [['collect', '--db', db, '--targets-file', badFile], /^stackscope: bad port "99999" in .*bad\.txt line 2/],
    [['collect', '--db', db, '--targets-file', labelFile], /^stackscope: bad label "region" in .*label\.txt line 1: give label=value$/],
    [
      ['collect', '--db', db, '--targets-file', path.join(dir, 'missing.txt')],
      /^stackscope: cannot read the targets file .*missing\.txt: ENOENT$/,
    ],
    [['collect', '--db', db], /^stackscope: no targets: give --target/],
    [
      ['collect', '--db', db, '--host', '127.0.0.1', '--ports', '9010-9000'],
      /^stackscope: bad --ports "9010-9000": 9010-9000 goes backwards$/,
    ],
    [['collect', '--db', db, '--target', '127.0.0.1:9000', '--retention', 'forever'], /^stackscope: bad --retention "forever"/],
    [
      ['collect', '--db', 'postgres://nobody@127.0.0.1:1/none', '--target', '127.0.0.1:9000'],
      /^stackscope: cannot reach the database postgres:\/\/nobody@127\.0\.0\.1:1\/none: .*ECONNREFUSED/,
    ],
    [['query', '--db', db], /^stackscope: no database at .*q\.db/],
    [['query', '--db', 'postgres://nobody@127.0.0.1:1/none'], /^stackscope: cannot reach the database/],
    [['query', '--db', db, '--from', '-5m', '--until', '-10m'], /^stackscope: bad range: --from -5m \(.*\) is not before --until -10m/],
    [['query', '--db', db, '--from', 'yesterday-ish'], /^stackscope: bad --from "yesterday-ish": give now, a time before now like -15m/],
    [['query', '--db', db, '--until', '-3x'], /^stackscope: bad --until "-3x"/],
    [['query', '--db', badFile], /^stackscope: .*bad\.txt is not a stackscope database/],
  ];
  for (const [args, expected] of cases) {
    const r = runCli(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.trim(), expected, args.join(' '));
  }
  assert.equal(fs.existsSync(db), false, 'no database left behind by a bad command');
});

test('queries read the coarsest rows that fit and equal the 1 s rows exactly; retention deletes old rows in batches and queries say what is gone', async () => {
  const { openStore, queryProfile, queryTimeline, applyRetention } = await import('../src/store/index.js');
  const { IdResolver } = await import('../src/store/index.js');
  const file = path.join(tmpDir('ss-collect-'), 'levels.db');
  const store = await openStore(file, { create: true });
  const hour = 3_600_000;
  const now = Math.floor(Date.now() / hour) * hour + 1_234_567; // inside an hour, off every boundary
  const frames: Frame[] = [
    { name: 'main', file: '/app/main.js', line: 1, col: 1 },
    { name: 'work', file: '/app/work.js', line: 5, col: 2 },
    { name: 'idle', file: '', line: 0, col: 0 },
  ];
  const { stackIds, newFrames, newStacks } = await new IdResolver(store).resolve(frames, [
    [0, 1],
    [0, 2],
  ]);
  // 1 s rows over the last 3 hours at odd times, and 3 days ago.
  const rows: Array<[number, number, number]> = [];
  for (let t = now - 3 * hour; t < now; t += 7000) rows.push([Math.floor(t / 1000) * 1000, stackIds[((t / 7000) % 2) | 0]!, 1 + (t % 13)]);
  for (let t = now - 72 * hour; t < now - 71 * hour; t += 60_000) rows.push([t, stackIds[0]!, 5]);
  const agent = { instance: 'i1', service: 's', labels: {}, hostname: 'h', pid: 1, startedMs: 0, intervalUs: 1000, version: 't' };
  await store.write([
    { address: '127.0.0.1:1', agent, labels: {}, cursor: 'i1-1', readMs: now, newFrames, newStacks, rows: rows.flatMap((r) => r) },
  ]);
  const expected = (from: number, until: number) => rows.filter(([t]) => t >= from && t < until).reduce((a, r) => a + r[2], 0);
  for (const [from, until] of [
    [now - 3 * hour, now],
    [now - 2.5 * hour + 17_000, now - 4321],
    [now - 61 * 60_000, now - 59 * 60_000 + 1],
    [now - 73 * hour, now],
  ]) {
    const q = await queryProfile(store, { fromMs: from!, untilMs: until! });
    assert.equal(q.samples, expected(from!, until!), `${new Date(from!).toISOString()}..${new Date(until!).toISOString()}`);
    assert.deepEqual(q.notes, []);
  }
  assert.ok(
    (await queryProfile(store, { fromMs: now - 3 * hour, untilMs: now })).pieces.some((p) => p.level === 'hour'),
    'whole hours come from the hourly rows',
  );
  const tl = await queryTimeline(store, { fromMs: now - 3 * hour, untilMs: now });
  assert.equal(tl.stepMs, 60_000);
  // (the first and last steps hold only the part of them inside the range)
  assert.equal(
    tl.points.reduce((a, p) => a + p.samples, 0),
    expected(now - 3 * hour, now),
  );

  // Keep 1 s rows for 1 h, minute rows for 2 h, 10-minute rows 1 day, hour rows 7 days; 100 rows per delete.
  const before = await store.rowCounts();
  const deleted = await applyRetention(store, { raw: hour, minute: 2 * hour, '10min': 24 * hour, hour: 7 * 24 * hour }, now, 100);
  const after = await store.rowCounts();
  assert.ok(deleted.raw! > 100, 'several batches');
  for (const level of ['raw', 'minute', '10min', 'hour'] as const) assert.equal(after[level], before[level] - (deleted[level] ?? 0));
  assert.equal(deleted.hour, 0);
  // 3 days ago now exists only as hour rows: a range starting inside an hour is widened, and says so.
  const old = await queryProfile(store, { fromMs: now - 72 * hour + 60_000, untilMs: now - 71 * hour + 60_000 });
  assert.equal(old.samples, 60 * 5);
  assert.match(old.notes.join('\n'), /the range starts at .*: rows finer than 1 h before .* were deleted by retention/);
  // The last hour is still exact to the second.
  const recent = await queryProfile(store, { fromMs: now - 50 * 60_000 + 3000, untilMs: now });
  assert.equal(recent.samples, expected(now - 50 * 60_000 + 3000, now));
  assert.deepEqual(recent.notes, []);
  await store.close();
});

test('queries of every target (summed fleet rows) equal the per-target rows exactly, also in a store written before fleet rows existed', async () => {
  const { openStore, queryProfile, queryTimeline, IdResolver } = await import('../src/store/index.js');
  const file = path.join(tmpDir('ss-collect-'), 'fleet.db');
  let store = await openStore(file, { create: true });
  const hour = 3_600_000;
  const now = Math.floor(Date.now() / hour) * hour + 2_345_678;
  const frames: Frame[] = [
    { name: 'main', file: '/app/main.js', line: 1, col: 1 },
    { name: 'a', file: '/app/a.js', line: 2, col: 1 },
    { name: 'b', file: '/app/b.js', line: 3, col: 1 },
  ];
  const { stackIds, newFrames, newStacks } = await new IdResolver(store).resolve(frames, [[0, 1], [0, 2], [0]]);
  const agent = (i: number) => ({
    instance: `i${i}`,
    service: i % 2 ? 'odd' : 'even',
    labels: {},
    hostname: 'h',
    pid: i,
    startedMs: 0,
    intervalUs: 1000,
    version: 't',
  });
  // 4 targets, written in 30 rounds of 4 batches; the same buckets come again in later rounds (counts add up).
  const expected: Array<Record<string, number>> = [{}, {}, {}, {}];
  for (let round = 0; round < 30; round++) {
    const batches = [0, 1, 2, 3].map((i) => {
      const rows: number[] = [];
      for (let k = 0; k < 40; k++) {
        const t = Math.floor((now - 2 * hour + ((round * 977 + k * 3001 + i * 131) % (2 * hour))) / 1000) * 1000;
        const s = (round + k + i) % 3;
        rows.push(t, stackIds[s]!, 1 + ((k * 7 + i) % 11));
      }
      return { address: `127.0.0.1:${i + 1}`, agent: agent(i), labels: {}, cursor: `c${round}`, readMs: now, rows };
    });
    await store.write(batches.map((b, i) => ({ ...b, newFrames: round || i ? [] : newFrames, newStacks: round || i ? [] : newStacks })));
    batches.forEach((b, i) => {
      for (let j = 0; j < b.rows.length; j += 3)
        expected[i]![`${b.rows[j]}:${b.rows[j + 1]}`] = (expected[i]![`${b.rows[j]}:${b.rows[j + 1]}`] ?? 0) + b.rows[j + 2]!;
    });
  }
  const inRange = (from: number, until: number, targets: number[]) => {
    let n = 0;
    for (const i of targets)
      for (const [k, c] of Object.entries(expected[i]!)) if (+k.split(':')[0]! >= from && +k.split(':')[0]! < until) n += c;
    return n;
  };
  const ranges = [
    [now - 2 * hour, now],
    [now - 15 * 60_000, now],
    [now - 97 * 60_000 + 13_000, now - 61_500],
  ] as const;
  const check = async (what: string) => {
    for (const [from, until] of ranges) {
      const all = await queryProfile(store, { fromMs: from, untilMs: until });
      const odd = await queryProfile(store, { fromMs: from, untilMs: until, service: 'odd' });
      const even = await queryProfile(store, { fromMs: from, untilMs: until, service: 'even' });
      assert.equal(all.samples, inRange(from, until, [0, 1, 2, 3]), what);
      assert.equal(odd.samples, inRange(from, until, [1, 3]), what);
      assert.ok(
        all.pieces.some((p) => p.level !== 'raw'),
        'rollup rows are read',
      );
      assert.deepEqual(stackTotals(all.profile), addTotals(stackTotals(odd.profile), stackTotals(even.profile)), what);
      const tl = await queryTimeline(store, { fromMs: from, untilMs: until, stepMs: 60_000 });
      assert.equal(
        tl.points.reduce((a, p) => a + p.samples, 0),
        all.samples,
        what,
      );
    }
  };
  await check('new store');
  const before = stackTotals((await queryProfile(store, { fromMs: now - 2 * hour, untilMs: now })).profile);
  assert.deepEqual(
    Object.keys(before).sort(),
    ['main', 'main;a', 'main;b'].map((k) => JSON.stringify(k.split(';').map((n) => frames.find((f) => f.name === n)))).sort(),
  );
  await store.close();

  // A store from before the fleet rows: their tables gone, stacks' frames as text. Queries read the
  // per-target rows; a collector opening it fills the fleet rows once.
  const db = new Database(file);
  db.exec("DROP TABLE fleet_1m; DROP TABLE fleet_10m; DROP TABLE fleet_1h; DELETE FROM meta WHERE key = 'fleet_rollups'");
  for (const s of newStacks) db.prepare('UPDATE stacks SET frames = ? WHERE id = ?').run(s.frames.join(','), s.id);
  db.close();
  store = await openStore(file);
  await check('older store, read');
  await store.close();
  store = await openStore(file, { create: true });
  await check('older store, opened by a collector');
  assert.deepEqual(stackTotals((await queryProfile(store, { fromMs: now - 2 * hour, untilMs: now })).profile), before);
  const counts = new Database(file, { readonly: true });
  assert.ok((counts.prepare('SELECT COUNT(*) FROM fleet_1m').pluck().get() as number) > 0, 'fleet rows filled');
  counts.close();
  await store.close();
});
