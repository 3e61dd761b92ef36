/**
 * `stackscope trace` end to end on real processes: the program behaves as untraced (exit code,
 * signal, stdout, stderr), every way out writes the trace, workers and forks are recorded,
 * overflow and filters are reported, bad input is one line and a non-zero exit.
 * Needs dist/ (npm test builds it first).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { readTraceFile, type TraceEvent } from '../src/formats/trace-event.js';
import { parseWithDevTools } from './helpers/devtools.js';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const cli = path.join(root, 'dist/cli/index.js');
const fx = (name: string) => path.join('fixtures/trace', name);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-trace-cli-'));
let seq = 0;
const outFile = () => path.join(tmp, `t${seq++}.json`);

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], opts: { onStdout?: (chunk: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d;
      opts.onStdout?.(stdout, child);
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
const traced = (args: string[], o?: Parameters<typeof run>[1]) => run([cli, 'trace', ...args], o);
const untraced = (script: string, args: string[] = []) => run([script, ...args]);

/** stackscope's own lines come after the program's output, all prefixed. */
function split(stderr: string): { program: string; own: string[] } {
  const lines = stderr.split('\n');
  const own = lines.filter((l) => l.startsWith('stackscope: ') || l.startsWith('{"trace":'));
  const program = lines.filter((l) => !(l.startsWith('stackscope: ') || l.startsWith('{"trace":'))).join('\n');
  return { program, own };
}

function slices(file: string): TraceEvent[] {
  return readTraceFile(file).traceEvents.filter((e) => e.ph === 'X');
}
function countByName(events: TraceEvent[], prefix: string): number {
  return events.filter((e) => e.name.startsWith(prefix)).length;
}

async function sameAsUntraced(script: string, args: string[], expectCode: number): Promise<TraceEvent[]> {
  const out = outFile();
  const [t, u] = await Promise.all([traced(['-o', out, script, ...args]), untraced(script, args)]);
  assert.equal(u.code, expectCode, 'untraced exit code');
  assert.equal(t.code, expectCode, `traced exit code; stderr: ${t.stderr}`);
  assert.equal(t.stdout, u.stdout);
  const { program, own } = split(t.stderr);
  assert.equal(program, u.stderr);
  assert.match(own.join('\n'), /trace written to .*events/);
  assert.match(own.join('\n'), /Chrome DevTools → Performance → Load profile/);
  return slices(out);
}

test('normal exit: output identical, calls recorded', async () => {
  const s = await sameAsUntraced(fx('rec-basic.mjs'), ['ok', '10'], 0);
  assert.equal(countByName(s, 'work '), 2);
  assert.equal(countByName(s, 'leaf '), 13);
  assert.ok(s.some((e) => e.name.startsWith('pause ')));
});

test('process.exitCode = 3 is kept', async () => {
  await sameAsUntraced(fx('rec-basic.mjs'), ['code3', '4'], 3);
});

test('early process.exit(7): calls before the exit are in the trace', async () => {
  const s = await sameAsUntraced(fx('rec-basic.mjs'), ['exit7', '4'], 7);
  assert.equal(countByName(s, 'work '), 3);
});

test("calls in the program's own exit handlers are recorded (natural end, process.exit, uncaught error)", async () => {
  for (const [arg, code] of [
    ['', 0],
    ['exit', 4],
    ['throw', 1],
  ] as const) {
    const ev = await sameAsUntraced(fx('rec-exit-handlers.mjs'), arg ? [arg] : [], code);
    const names = ev.filter((e) => e.name.startsWith('cleanup ')).map((e) => e.name);
    assert.equal(names.length, 3, `${arg}: ${names.join(', ')}`);
    assert.equal(countByName(ev, 'work '), 1);
  }
});

test('uncaught exception: exit 1, same stdout, error on stderr, trace written', async () => {
  const out = outFile();
  const [t, u] = await Promise.all([traced(['-o', out, fx('rec-basic.mjs'), 'throw', '4']), untraced(fx('rec-basic.mjs'), ['throw', '4'])]);
  assert.equal(u.code, 1);
  assert.equal(t.code, 1);
  assert.equal(t.stdout, u.stdout);
  assert.equal(split(t.stderr).program, u.stderr);
  assert.match(u.stderr, /Error: boom from rec-basic/);
  assert.equal(countByName(slices(out), 'leaf '), 7);
});

test('SIGTERM: the program dies by the signal after the trace is written', async () => {
  const out = outFile();
  let sent = false;
  const t = await traced(['-o', out, fx('rec-basic.mjs'), 'hang', '3'], {
    onStdout: (s, child) => {
      if (!sent && s.includes('ready')) {
        sent = true;
        setTimeout(() => child.kill('SIGTERM'), 200);
      }
    },
  });
  assert.equal(t.signal, 'SIGTERM', `code ${t.code}; stderr: ${t.stderr}`);
  assert.ok(countByName(slices(out), 'work ') >= 3, 'interval calls recorded');
});

test('a program that signals itself dies of it at once, as untraced, with its trace written', async () => {
  for (const how of ['name', 'number', 'default']) {
    const out = outFile();
    const [t, u] = await Promise.all([traced(['-o', out, fx('rec-self-signal.mjs'), how]), untraced(fx('rec-self-signal.mjs'), [how])]);
    const expected = how === 'name' ? 'SIGHUP' : 'SIGTERM';
    assert.equal(u.signal, expected, `untraced, ${how}`);
    assert.equal(t.signal, expected, `traced, ${how}: code ${t.code}; stderr: ${t.stderr}`);
    assert.equal(t.stdout, u.stdout);
    assert.doesNotMatch(t.stdout, /still running/);
    assert.equal(countByName(slices(out), 'work '), 1, how);
  }
});

test('a program killed by a signal the recorder does not catch: nothing saved, and the message names the signal', async () => {
  const t = await traced(['-o', outFile(), fx('rec-self-signal.mjs'), 'usr2']);
  assert.equal(t.signal, 'SIGUSR2', t.stderr);
  assert.match(t.stderr, /stackscope: no recording was saved \(the program was killed by SIGUSR2 before it could save it\)/);
});

test("SIGTERM with the program's own handler: the handler decides", async () => {
  const out = outFile();
  let sent = false;
  const t = await traced(['-o', out, fx('rec-basic.mjs'), 'handler', '3'], {
    onStdout: (s, child) => {
      if (!sent && s.includes('ready')) {
        sent = true;
        setTimeout(() => child.kill('SIGTERM'), 200);
      }
    },
  });
  assert.equal(t.code, 0, t.stderr);
  assert.equal(t.signal, null);
  assert.match(t.stdout, /own handler/);
  assert.equal(countByName(slices(out), 'work '), 2);
});

test('a program stuck in a sync loop still dies of a repeated SIGINT', async () => {
  let sent = false;
  const t = await traced(['-o', outFile(), fx('rec-stuck.mjs')], {
    onStdout: (s, child) => {
      if (sent || !s.includes('ready')) return;
      sent = true;
      setTimeout(() => child.kill('SIGINT'), 100);
      setTimeout(() => child.kill('SIGINT'), 800);
    },
  });
  assert.equal(t.signal, 'SIGINT', t.stderr);
  assert.match(t.stderr, /does not respond to SIGINT/);
});

test('worker threads are dumped as their own tracks', async () => {
  const out = outFile();
  const t = await traced(['-o', out, fx('rec-worker.mjs')]);
  assert.equal(t.code, 0, t.stderr);
  const events = readTraceFile(out).traceEvents;
  const names = new Map(events.filter((e) => e.name === 'thread_name').map((e) => [e.tid, String(e.args?.name)]));
  const perThread = new Map<string, number>();
  for (const e of events)
    if (e.ph === 'X' && e.name.startsWith('square '))
      perThread.set(names.get(e.tid) ?? '?', (perThread.get(names.get(e.tid) ?? '?') ?? 0) + 1);
  const workerCounts = [...perThread]
    .filter(([n]) => n.startsWith('worker '))
    .map(([, c]) => c)
    .sort((a, b) => a - b);
  assert.deepEqual(workerCounts, [10, 20]);
  assert.equal(perThread.get('main'), 5);
  assert.match(t.stderr, /3 threads/);
});

test("a worker killed by the main thread's exit or by a signal is dumped by the main thread, Node events included", async () => {
  const spins = (file: string) => {
    const events = readTraceFile(file).traceEvents;
    // The worker's GC pauses, posted to the main thread as they happened, are on its own GC track.
    const gcTracks = new Set(
      events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && /^worker \d+ GC$/.test(String(e.args?.name))).map((e) => e.tid),
    );
    assert.ok(
      events.some((e) => e.ph === 'X' && e.cat === 'gc' && gcTracks.has(e.tid)),
      'worker GC events kept',
    );
    return events.filter((e) => e.ph === 'X' && e.name.startsWith('spin ') && e.tid !== 0).length;
  };
  const out = outFile();
  const t = await traced(['--buffer-size', '1000', '--on-full', 'drop-oldest', '-o', out, fx('rec-worker-exit.mjs')]);
  assert.equal(t.code, 0, t.stderr);
  // The ring kept 1000 calls; the oldest is not drawn (the calls it made, if any, were dropped), and
  // the worker was still spinning while the main thread copied its ring: the slots it rewrote during
  // the copy are left out too (a spin call takes ~100 ns, so it laps part of the ring during a copy;
  // the copy is retried while it loses more than a tenth).
  const kept = (n: number) => n <= 999 && n >= 100; // on a loaded machine a copy can lose most of a 1000-call ring to a busy writer
  assert.ok(kept(spins(out)), `${spins(out)} spins`);
  const out2 = outFile();
  let sent = false;
  const t2 = await traced(['--buffer-size', '1000', '--on-full', 'drop-oldest', '-o', out2, fx('rec-worker-exit.mjs'), 'hang'], {
    onStdout: (s, child) => {
      if (!sent && s.includes('ready')) {
        sent = true;
        setTimeout(() => child.kill('SIGTERM'), 200);
      }
    },
  });
  assert.equal(t2.signal, 'SIGTERM', t2.stderr);
  assert.ok(kept(spins(out2)), `${spins(out2)} spins`);
});

test('forked child processes are recorded under their own pid', async () => {
  const out = outFile();
  const t = await traced(['-o', out, fx('rec-fork.mjs')]);
  assert.equal(t.code, 0, t.stderr);
  const s = slices(out);
  const parent = s.find((e) => e.name.startsWith('inParent '));
  const child = s.find((e) => e.name.startsWith('inChild '));
  assert.ok(parent && child);
  assert.notEqual(parent.pid, child.pid);
});

test('ring overflow with --on-full drop-oldest: newest kept, drops reported on stderr, in --json and in the metadata', async () => {
  const out = outFile();
  const t = await traced(['--json', '--buffer-size', '5', '--on-full', 'drop-oldest', '-o', out, fx('rec-basic.mjs'), 'ok', '50']);
  assert.equal(t.code, 0);
  const summary = JSON.parse(split(t.stderr).own.find((l) => l.startsWith('{'))!) as {
    dropped: number;
    events: number;
    trace: string;
    exitCode: number;
  };
  assert.ok(summary.dropped >= 50, JSON.stringify(summary));
  assert.equal(summary.exitCode, 0);
  assert.equal(summary.trace, out);
  const file = readTraceFile(out);
  assert.equal(file.metadata?.droppedRecords, summary.dropped);
  // the newest records survive: the continuation of pause() and its work(3)
  assert.ok(slices(out).some((e) => e.name.startsWith('resumed: pause')));
  const t2 = await traced(['--buffer-size', '5', '--on-full', 'drop-oldest', '-o', outFile(), fx('rec-basic.mjs'), 'ok', '50']);
  assert.match(t2.stderr, /oldest events dropped/);
});

test('--max-depth and --min-duration filter calls', async () => {
  const out = outFile();
  await traced(['--max-depth', '1', '-o', out, fx('rec-basic.mjs'), 'ok', '10']);
  let s = slices(out);
  assert.equal(countByName(s, 'leaf '), 0);
  assert.equal(countByName(s, 'work '), 1);
  const out2 = outFile();
  await traced(['--min-duration', '5000000', '-o', out2, fx('rec-basic.mjs'), 'ok', '10']);
  s = slices(out2);
  assert.equal(countByName(s, 'work '), 0);
  assert.equal(countByName(s, 'leaf '), 0);
});

test('arguments after the script go to the program, options included; `--` works', async () => {
  const t = await traced(['-o', outFile(), fx('rec-args.mjs'), 'a', '--json', '-o', 'x', '007']);
  assert.equal(t.stdout.trim(), JSON.stringify(['a', '--json', '-o', 'x', '007']));
  assert.ok(!split(t.stderr).own.some((l) => l.startsWith('{')), 'stackscope did not take --json');
  const t2 = await traced(['-o', outFile(), '--', fx('rec-args.mjs'), '--help']);
  assert.equal(t2.stdout.trim(), JSON.stringify(['--help']));
});

test('spans from the API appear as slices', async () => {
  const out = outFile();
  const t = await traced(['-o', out, fx('rec-span.mjs')]);
  assert.match(t.stdout, /tracing/);
  const s = slices(out);
  assert.equal(countByName(s, 'sync-span'), 1);
  assert.equal(countByName(s, 'async-span'), 1);
});

test('TypeScript entry', async () => {
  const out = outFile();
  const t = await traced(['-o', out, fx('rec-typed.ts')]);
  assert.equal(t.code, 0, t.stderr);
  assert.equal(t.stdout, 'steps 4\n');
  assert.equal(countByName(slices(out), 'norm (fixtures/trace/rec-typed.ts:3)'), 4);
});

test('saveTrace on demand includes live workers; getRecorder snapshot and clear', async () => {
  const out = outFile();
  const saved = outFile();
  const t = await traced(['-o', out, fx('rec-save.mjs'), saved]);
  assert.equal(t.code, 0, t.stderr);
  assert.deepEqual(JSON.parse(t.stdout), { tracing: true, threads: 2, before: 5, after: 1 });
  const s = slices(saved);
  const tids = new Set(s.filter((e) => e.name.startsWith('step ')).map((e) => e.tid));
  assert.equal(tids.size, 2, 'main and worker steps');
  assert.equal(countByName(s, 'step '), 7);
  // after clear() the main thread starts over: one step in the final trace
  assert.equal(
    countByName(
      slices(out).filter((e) => e.tid === 0),
      'step ',
    ),
    1,
  );
});

test("saveTrace()'s result names the throttled functions, as the summary does; its own time is a slice of its own", async () => {
  const saved = outFile(),
    out = outFile();
  const t = await traced(['--min-duration', '50', '-o', out, fx('save-throttled.mjs'), saved]);
  assert.equal(t.code, 0, t.stderr);
  assert.deepEqual(JSON.parse(t.stdout), {
    sum: 30000,
    throttled: { functions: 1, threads: 1, after: 10_000, labels: ['tiny (fixtures/trace/save-throttled.mjs:4)'], timedAgain: 0 },
  });
  assert.match(t.stderr, /stackscope: a function was throttled: tiny \(fixtures\/trace\/save-throttled\.mjs:4\)/);
  // In the final trace, saveTrace()'s writing is drawn inside main, not as main's self time.
  const all = slices(out);
  const main = all.filter((e) => e.name.startsWith('main ('));
  const own = all.filter((e) => e.name === "stackscope: saveTrace() writing a trace (not the program's time)");
  assert.equal(main.length, 1);
  assert.equal(own.length, 1);
  assert.ok(own[0]!.ts >= main[0]!.ts && own[0]!.ts + own[0]!.dur! <= main[0]!.ts + main[0]!.dur!, 'inside main');
  assert.ok(own[0]!.dur! > 0);
});

test('-o *.json.gz and saveTrace("*.json.gz") write gzip that the DevTools engine reads: the same tracks and slices as plain JSON', async () => {
  const plain = outFile(),
    plainSaved = outFile();
  const gz = path.join(tmp, 'g.json.gz'),
    gzSaved = path.join(tmp, 'g-saved.json.gz');
  const [p, g] = await Promise.all([
    traced(['-o', plain, fx('rec-save.mjs'), plainSaved]),
    traced(['-o', gz, fx('rec-save.mjs'), gzSaved]),
  ]);
  assert.equal(g.code, 0, g.stderr);
  assert.equal(g.stdout, p.stdout);
  assert.ok(
    g.stderr.includes(`trace written to ${gz} (`) && g.stderr.includes(`${(fs.statSync(gz).size / 1024).toFixed(1)} KiB`),
    `the size said is the file's: ${g.stderr}`,
  );
  /** per track (by name): slice names and counts, as the DevTools engine builds them */
  const shape = async (file: string): Promise<Record<string, Record<string, number>>> => {
    const bytes = fs.readFileSync(file);
    const gzipped = bytes[0] === 0x1f && bytes[1] === 0x8b;
    assert.equal(gzipped, file.endsWith('.gz'), `${file}: gzip exactly when named .gz`);
    const tr = await parseWithDevTools(
      JSON.parse((gzipped ? zlib.gunzipSync(bytes) : bytes).toString('utf8')) as { traceEvents: unknown[] },
    );
    assert.equal(tr.dropped, 0);
    const out: Record<string, Record<string, number>> = {};
    // GC pauses differ from run to run
    for (const t of tr.tracks.filter((x) => !x.threadName?.endsWith('GC'))) {
      const names = (out[t.threadName ?? ''] ??= {});
      for (const e of t.entries) names[e.name] = (names[e.name] ?? 0) + 1;
    }
    return out;
  };
  const [a, b] = [await shape(plain), await shape(gz)];
  assert.ok(
    Object.values(b).some((names) => (names['step (fixtures/trace/rec-save.mjs:4)'] ?? 0) > 0),
    JSON.stringify(b),
  );
  assert.deepEqual(b, a);
  assert.deepEqual(await shape(gzSaved), await shape(plainSaved));
  assert.equal(countByName(slices(gzSaved), 'step '), 7, 'readTraceFile reads .json.gz too');
});

test('a failing profiler costs one stderr line, never the program', async () => {
  const preload = path.join(root, 'dist/trace/preload.js');
  const u = await untraced(fx('rec-basic.mjs'), ['code3', '3']);
  for (const cfg of ['{"dumpDir":"/nonexistent/stackscope-dir"}', '{not json']) {
    const r = await new Promise<Run>((resolve) => {
      const child = spawn(process.execPath, ['--import', preload, fx('rec-basic.mjs'), 'code3', '3'], {
        cwd: root,
        env: { ...process.env, STACKSCOPE_TRACE: cfg },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '',
        stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d;
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d;
      });
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, u.stdout);
    const { program, own } = split(r.stderr);
    assert.equal(program, u.stderr);
    assert.equal(own.length, 1, r.stderr);
  }
});

test('bad input: one line on stderr, non-zero exit, program not run', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['no-such-script.js'], /script not found: no-such-script\.js/],
    [['-o', path.join(tmp, 'missing-dir', 'x.json'), fx('rec-args.mjs')], /cannot write the trace/],
    [['-o', tmp, fx('rec-args.mjs')], /cannot write the trace/],
    [['--bogus', fx('rec-args.mjs')], /Unknown argument: bogus/],
    [['--buffer-size', 'lots', fx('rec-args.mjs')], /buffer-size/],
    [[], /give the script/],
  ];
  for (const [args, re] of cases) {
    const t = await traced(args);
    assert.notEqual(t.code, 0, args.join(' '));
    assert.equal(t.stdout, '', `program must not run: ${args.join(' ')}`);
    const lines = t.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, t.stderr);
    assert.match(lines[0]!, re);
  }
});

test('--help shows examples', async () => {
  const t = await traced(['--help']);
  assert.equal(t.code, 0);
  assert.match(t.stdout, /stackscope trace/);
  assert.match(t.stdout, /Examples:/);
  assert.match(t.stdout, /--min-duration/);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
