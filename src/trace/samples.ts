/**
 * `trace --sample`, writing side: a thread's CPU samples go into the trace on the thread's own
 * track, as `Profile`/`ProfileChunk` events on the same clock as its slices, so the Performance
 * panel draws the sampled frames *under* the exact slices.
 *
 * The panel merges a thread's samples into its slices as it does for Chrome's own traces: within a
 * slice it draws each sample's whole JavaScript stack beneath that slice, cut at every child slice.
 * Written as V8 took them, every slice would repeat its callers' frames beneath itself. So each
 * sample's stack is cut: the frames of the slices that enclose it (matched outermost first by
 * function position) are dropped, and only what runs below the innermost one stays: untraced
 * library code, builtins, Node's internals. Samples outside every slice keep their whole stack.
 * A sample taken at a slice's edge can disagree with it (its time and its stack are not read at the
 * same instant): its stack lacks the function of its innermost slice, or holds below the cut a
 * function whose slice ended or starts within one interval, at least 1 ms (measured: a
 * sample's stack came up to ~270 µs from its time at 200 µs). Such a sample is drawn as nothing and
 * counted ("unplaced" in the metadata); drawn, it would repeat the exact slice beside it.
 *
 * V8's pseudo-frames inside a slice are renamed: the panel hides `(garbage collector)` and
 * `(program)` when they are top-level nodes, which the cut makes them, and GC or native time under
 * a slice is worth seeing. Samples in stackscope's own code are drawn as nothing (see `observers`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { displayPath } from '../model/frame.js';
import { addCpuProfile, cpuProfileToTraceEvents, type CallFrame, type CpuProfile, type CpuProfileNode } from '../formats/cpuprofile.js';
import { NO_STACK, type Frame, type StackSink } from '../model/index.js';
import { instantEventJson } from '../formats/trace-event.js';
import { UNDER_SLICES } from '../formats/trace-read.js';
import { RecordKind, RECORD_STRIDE, codeId, codeKind, isSliceKind, type ThreadRecording } from '../recorder/protocol.js';
import { SAMPLES_EXT, type ThreadSamplesFile } from './sampling.js';

/** The least time a sample's stack may lag or lead its timestamp (see the top of this file), µs. */
const MIN_EDGE_US = 1000;

/** How V8's pseudo-frames are named when they are drawn under a slice. */
export const GC_UNDER_SLICE = 'GC (sampled)';
export const PROGRAM_UNDER_SLICE = 'native code (program)';
const SAMPLES_START_JSON = JSON.stringify('CPU samples: first');
const SAMPLES_END_JSON = JSON.stringify('CPU samples: last');

/**
 * Where stackscope's own code lives: `dist/`, which source maps turn into `src/`, and the packages
 * it runs on (acorn, magic-string...: the instrumenter's).
 */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OWN_DIRS = ['dist', 'src'].map((d) => path.join(PACKAGE_ROOT, d) + path.sep);
const DEPENDENCY_DIRS = dependencyDirs();
/** The function the instrumenter's prologue adds to every module it instruments (instrument/markers.ts). */
const PROLOGUE_FN = '__ssi$';

function dependencyDirs(): string[] {
  const dirs: string[] = [];
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    const req = createRequire(path.join(PACKAGE_ROOT, 'package.json'));
    for (const name of Object.keys(pkg.dependencies ?? {})) {
      try {
        const file = req.resolve(name);
        const at = file.lastIndexOf(`${path.sep}node_modules${path.sep}${name.split('/').join(path.sep)}${path.sep}`);
        if (at >= 0) dirs.push(file.slice(0, at + `${path.sep}node_modules${path.sep}${name}${path.sep}`.length));
      } catch {
        /* an ESM-only package without a require entry: its frames count as the program's */
      }
    }
  } catch {
    /* no package.json beside dist: only dist/src frames are stackscope's */
  }
  return dirs;
}

export interface SamplesSummary {
  intervalUs: number;
  /** threads whose samples are in the trace */
  threads: number;
  samples: number;
  /** samples taken at a slice's edge whose stack disagreed with it: drawn as nothing */
  unplaced: number;
  /** samples on GC or native code under a slice */
  gcOrNative: number;
}

/** A thread whose samples end before its calls do, or that has none: said in the trace, never silently. */
export interface SamplesGap {
  pid: number;
  tid: number;
  thread: string;
  /** the `ts` of the thread's last sample in the trace; absent when it has none */
  lastSampleTs?: number;
  why: string;
}

/** Why a traced thread has no samples at all. */
export const NO_SAMPLES =
  'no CPU samples: the thread ended without saving them (stopped by worker.terminate(), or it did not answer ' +
  "the main thread's request at the process's exit); its calls are in the trace";

/** The samples of every thread of a run, read from the dump directory, ready for writeTrace. */
export class TraceSamples {
  private byThread = new Map<string, ThreadSamplesFile>();
  private byRecording = new Map<ThreadRecording, ThreadSamplesFile>();
  private summary: SamplesSummary;
  private readonly gapList: SamplesGap[] = [];

  /**
   * `files` are matched to recordings by pid and thread, or, given as [recording, samples] pairs,
   * to those very recordings (bench: every strategy's run is the same thread of one process).
   */
  constructor(
    files: Array<ThreadSamplesFile | [ThreadRecording, ThreadSamplesFile]>,
    private readonly cwd: string,
    /** what the trace says of a thread that has no samples */
    private readonly missingWhy = NO_SAMPLES,
  ) {
    let intervalUs = 0;
    for (const f of files) {
      if (Array.isArray(f)) {
        this.byRecording.set(f[0], f[1]);
        intervalUs ||= f[1].intervalUs;
      } else {
        this.byThread.set(`${f.pid}:${f.tid}`, f);
        intervalUs ||= f.intervalUs;
      }
    }
    this.summary = { intervalUs, threads: 0, samples: 0, unplaced: 0, gcOrNative: 0 };
  }

  /** Reads the `.samples.json` files of `dir`; unreadable ones are reported through onError. */
  static read(dir: string, cwd: string, onError?: (file: string, err: unknown) => void): TraceSamples {
    const files: ThreadSamplesFile[] = [];
    for (const name of fs.readdirSync(dir).sort()) {
      if (!name.endsWith(SAMPLES_EXT)) continue;
      try {
        const f = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as ThreadSamplesFile;
        if (!f.profile || !Array.isArray(f.profile.nodes)) throw new Error('no profile in it');
        files.push(f);
      } catch (err) {
        onError?.(name, err);
      }
    }
    return new TraceSamples(files, cwd);
  }

  /** samples written so far (all threads) */
  get written(): number {
    return this.summary.samples;
  }

  private of(th: ThreadRecording): ThreadSamplesFile | undefined {
    return this.byRecording.get(th) ?? this.byThread.get(`${th.pid}:${th.tid}`);
  }

  /**
   * When the thread's profile starts (µs, recorder clock), so the trace's time base covers it: the
   * profile's events carry its start, which must not fall before ts 1.
   */
  earliest(th: ThreadRecording): number {
    const f = this.of(th);
    return f?.profile.samples?.length ? f.profile.startTime : Infinity;
  }

  /** Profile events for the thread's track: ts = base + recorder µs, like its slices. */
  events(th: ThreadRecording, base: number, pid: number): string[] {
    const f = this.of(th);
    if (!f) {
      this.gapList.push({ pid, tid: th.tid, thread: th.threadName, why: this.missingWhy });
      return [instantEventJson(JSON.stringify(`CPU samples: none (${this.missingWhy})`), base + firstCallUs(th), pid, th.tid)];
    }
    const { profile, stats } = cutUnderSlices(f.profile, th, this.cwd, f.intervalUs);
    this.summary.threads++;
    this.summary.samples += profile.samples?.length ?? 0;
    this.summary.unplaced += stats.unplaced;
    this.summary.gcOrNative += stats.gcOrNative;
    const shifted = { ...profile, startTime: base + profile.startTime, endTime: base + profile.endTime };
    const out = cpuProfileToTraceEvents(shifted, { pid, tid: th.tid })
      .filter((e) => e.ph === 'P')
      // A profile id per thread: the panel keys profiles by pid and id. The Profile event says the
      // samples sit under exact slices, so readers (compare) know the slices are the data.
      .map((e) =>
        JSON.stringify({
          ...e,
          id: `0x${(th.tid + 1).toString(16)}`,
          ...(e.name === 'Profile' ? { args: { data: { ...(e.args?.data as object), [UNDER_SLICES]: true } } } : {}),
        }),
      );
    // The panel draws samples only within the trace's bounds, which P events do not set: two
    // instants at the first and last sample make the sampled time before the first slice (module
    // loading) and after the last one visible.
    let first = Infinity,
      last = -Infinity;
    let ts = shifted.startTime;
    for (const d of shifted.timeDeltas ?? []) {
      ts += d;
      first = Math.min(first, ts);
      last = Math.max(last, ts);
    }
    if (first <= last) {
      const endName = f.partial ? JSON.stringify(`CPU samples: last (${f.partial})`) : SAMPLES_END_JSON;
      out.push(instantEventJson(SAMPLES_START_JSON, first, pid, th.tid), instantEventJson(endName, last, pid, th.tid));
    }
    if (f.partial) this.gapList.push({ pid, tid: th.tid, thread: th.threadName, lastSampleTs: last, why: f.partial });
    return out;
  }

  /** Threads whose samples end early or are missing, once events() has run for every thread. */
  get gaps(): readonly SamplesGap[] {
    return this.gapList;
  }

  metadata(): Record<string, unknown> {
    if (this.summary.threads === 0 && this.gapList.length === 0) return {};
    return {
      samples: {
        ...this.summary,
        ...(this.gapList.length ? { incomplete: this.gapList } : {}),
        note:
          'CPU samples drawn under the exact slices: each stack is cut below the innermost slice that encloses it; ' +
          '"unplaced" samples, drawn as nothing, were taken within one interval (at least 1 ms) of a slice\'s edge and their stack disagreed with it',
      },
    };
  }
}

const META = new Map([
  ['(garbage collector)', GC_UNDER_SLICE],
  ['(program)', PROGRAM_UNDER_SLICE],
]);

interface Slice {
  start: number;
  end: number;
  key: string | null;
}

/** When the thread's first record starts (µs, recorder clock), or 0 when it has none. */
function firstCallUs(th: ThreadRecording): number {
  let first = Infinity;
  for (let o = 0; o < th.count * RECORD_STRIDE; o += RECORD_STRIDE) first = Math.min(first, th.records[o + 1]!);
  return Number.isFinite(first) ? first : 0;
}

/** The thread's slices on its own track (calls, running segments, spans), by start, outer first. */
function threadSlices(th: ThreadRecording): Slice[] {
  const keys = th.functions.map((fn) => (fn.file ? `${fn.file}:${fn.line}` : null));
  const out: Slice[] = [];
  const r = th.records;
  for (let i = 0, o = 0; i < th.count; i++, o += RECORD_STRIDE) {
    const kind = codeKind(r[o]!);
    if (kind === RecordKind.AsyncLifetime || !isSliceKind(kind)) continue;
    const id = codeId(r[o]!);
    out.push({ start: r[o + 1]!, end: r[o + 2]!, key: kind === RecordKind.Span ? null : (keys[id] ?? null) });
  }
  return out.sort((a, b) => a.start - b.start || b.end - a.end);
}

/**
 * The profile with every sample's stack cut below its innermost enclosing slice (see the top of
 * this file). Same samples in the same order with the same times; new nodes.
 */
export function cutUnderSlices(
  profile: CpuProfile,
  th: ThreadRecording,
  cwd: string,
  intervalUs: number,
): { profile: CpuProfile; stats: { unplaced: number; gcOrNative: number } } {
  const slices = threadSlices(th);
  // Keyed by call frame: timedStacks shares one CallFrame object per distinct frame.
  const frameKey = new Map<CallFrame, string>();
  const keyOf = (n: CpuProfileNode): string => {
    const f = n.callFrame;
    let k = frameKey.get(f);
    if (k === undefined) frameKey.set(f, (k = f.url ? `${displayPath(f.url, cwd)}:${f.lineNumber + 1}` : ''));
    return k;
  };
  // Per script, not per frame: a profile has thousands of nodes over a few hundred scripts.
  const paths = new Map<string, string | null>();
  const pathOf = (n: CpuProfileNode): string | null => {
    const url = n.callFrame.url;
    if (!url || url.startsWith('node:')) return null;
    let p = paths.get(url);
    if (p === undefined) paths.set(url, (p = url.startsWith('file:') ? safePath(url) : url));
    return p;
  };
  const ownScripts = new Map<string, boolean>();
  const isOwn = (n: CpuProfileNode): boolean => {
    if (n.callFrame.functionName === PROLOGUE_FN) return true;
    const url = n.callFrame.url;
    let own = ownScripts.get(url);
    if (own === undefined) {
      const p = pathOf(n);
      ownScripts.set(url, (own = p !== null && OWN_DIRS.some((d) => p.startsWith(d))));
    }
    return own;
  };
  /**
   * A sample is the observer's when, below stackscope's deepest frame, nothing of the program runs:
   * only Node's internals, builtins and stackscope's own packages (the hooks reading the clock, the
   * instrumenter parsing a module). Below the CommonJS hook or a span() the program runs again:
   * those frames are kept, stackscope's own taken out.
   */
  const observers = (stack: CpuProfileNode[]): boolean => {
    let k = -1;
    for (let i = stack.length - 1; i >= 0 && k < 0; i--) if (isOwn(stack[i]!)) k = i;
    if (k < 0) return false;
    for (let i = k + 1; i < stack.length; i++) {
      const p = pathOf(stack[i]!);
      if (p !== null && !DEPENDENCY_DIRS.some((d) => p.startsWith(d))) return false;
    }
    return true;
  };

  const nodes: CpuProfileNode[] = [
    { id: 1, callFrame: { functionName: '(root)', scriptId: 0, url: '', lineNumber: -1, columnNumber: -1 }, children: [] },
  ];
  // A node per (parent node, call frame): call frames numbered once (one object per distinct frame,
  // see keyOf), and one map for all nodes, not a map per node.
  const frameNo = new Map<CallFrame, number>();
  const childOf = new Map<number | string, number>();
  const nodeFor = (parent: number, frame: CallFrame): number => {
    let f = frameNo.get(frame);
    if (f === undefined) frameNo.set(frame, (f = frameNo.size));
    // One number while it stays exact (2^20 frames, 2^33 nodes); beyond, a text.
    const key = f < 0x100000 && parent < 0x200000000 ? parent * 0x100000 + f : `${parent}:${f}`;
    let id = childOf.get(key);
    if (id === undefined) {
      id = nodes.length + 1;
      nodes.push({ id, callFrame: frame, children: [] });
      nodes[parent - 1]!.children!.push(id);
      childOf.set(key, id);
    }
    return id;
  };
  const renamed = new Map<CallFrame, CallFrame>();
  const renamedFrame = (f: CallFrame, name: string): CallFrame => {
    let r = renamed.get(f);
    if (!r) renamed.set(f, (r = { ...f, functionName: name }));
    return r;
  };

  /** the stack without stackscope's frames, or null for the observer's samples; memoised per stack (shared per node) */
  const ownStack = new Map<CpuProfileNode[], CpuProfileNode[] | null>();
  const samples: number[] = [];
  let unplaced = 0,
    gcOrNative = 0;
  const open: Slice[] = [];
  const near = new Set<string>();
  let next = 0;
  // A sample's time and its stack are not read at the same instant: how far apart they can be.
  const edgeUs = Math.max(intervalUs, MIN_EDGE_US);
  let recent: Slice[] = []; // slices that ended within edgeUs before the sample
  const close = (sl: Slice): void => {
    recent.push(sl);
  };
  for (const { stack, ts } of timedStacks(profile)) {
    // The slices enclosing ts, outermost first (they nest: a sweep with a stack finds them).
    while (open.length && open[open.length - 1]!.end < ts) close(open.pop()!);
    while (next < slices.length && slices[next]!.start <= ts) {
      const s = slices[next++]!;
      while (open.length && open[open.length - 1]!.end < s.start) close(open.pop()!);
      if (s.end >= ts) open.push(s);
      else close(s);
    }
    while (open.length && open[open.length - 1]!.end < ts) close(open.pop()!);
    if (recent.length) recent = recent.filter((sl) => sl.end >= ts - edgeUs);

    let known = ownStack.get(stack);
    if (known === undefined) ownStack.set(stack, (known = observers(stack) ? null : stack.filter((n) => !isOwn(n))));
    const frames = known;
    if (frames === null) {
      samples.push(1);
      continue;
    }
    let from = 0;
    let innermostFound = true;
    if (open.length) {
      let pos = -1;
      let last: Slice | undefined;
      for (const s of open) {
        if (s.key === null) continue;
        last = s;
        let j = pos + 1;
        while (j < frames.length && keyOf(frames[j]!) !== s.key) j++;
        if (j < frames.length) {
          pos = j;
          innermostFound = true;
        } else innermostFound = false;
      }
      from = last ? pos + 1 : 0;
      const leaf = frames[frames.length - 1];
      const meta = leaf && !leaf.callFrame.url ? META.get(leaf.callFrame.functionName) : undefined;
      if (meta && frames.length === 1) {
        gcOrNative++;
        samples.push(nodeFor(1, renamedFrame(leaf!.callFrame, meta)));
        continue;
      }
      if (last && !innermostFound) {
        unplaced++;
        samples.push(1);
        continue;
      }
    }
    // A frame below the cut whose function has a slice ending or starting within edgeUs is
    // that call seen across the slice's edge (a sample's time and its stack are not taken at the
    // same instant): drawn, it would repeat the exact slice beside it.
    near.clear();
    for (const sl of recent) if (sl.key !== null) near.add(sl.key);
    for (let k = next; k < slices.length && slices[k]!.start <= ts + edgeUs; k++) if (slices[k]!.key !== null) near.add(slices[k]!.key!);
    if (near.size && frames.some((n, i) => i >= from && near.has(keyOf(n)))) {
      unplaced++;
      samples.push(1);
      continue;
    }
    let id = 1;
    for (let i = from; i < frames.length; i++) id = nodeFor(id, frames[i]!.callFrame);
    samples.push(id);
  }
  return {
    profile: { nodes, startTime: profile.startTime, endTime: profile.endTime, samples, timeDeltas: profile.timeDeltas ?? [] },
    stats: { unplaced, gcOrNative },
  };
}

/**
 * Each sample of a profile with its time (µs, the profile's clock) and its stack, root first, as
 * nodes that carry only a call frame (shared between the samples of one stack: not to be changed).
 * Read through the one V8 walker (formats/cpuprofile.ts), so idle and root-only samples come out
 * with an empty stack, in their place.
 */
function timedStacks(profile: CpuProfile): Array<{ ts: number; stack: CpuProfileNode[] }> {
  const frames: CallFrame[] = [];
  // Stacks as (parent, frame) links; a sample's stack becomes an array once, when first sampled
  // (copying every prefix of deep stacks made most of the garbage).
  const parents: number[] = [];
  const leaves: CpuProfileNode[] = [];
  const arrays: (CpuProfileNode[] | undefined)[] = [];
  const arrayOf = (s: number): CpuProfileNode[] => {
    const known = arrays[s];
    if (known) return known;
    // Up to the nearest stack already made (or the root), iteratively: stacks can be thousands deep.
    const path: CpuProfileNode[] = [];
    let up = s;
    while (up !== NO_STACK && !arrays[up]) {
      path.push(leaves[up]!);
      up = parents[up]!;
    }
    const a = up === NO_STACK ? [] : [...arrays[up]!];
    for (let i = path.length - 1; i >= 0; i--) a.push(path[i]!);
    return (arrays[s] = a);
  };
  const scripts = new Map<string, { scriptId: number; url: string }>();
  const out: Array<{ ts: number; stack: CpuProfileNode[] }> = [];
  const none: CpuProfileNode[] = [];
  // One CallFrame object per distinct frame: cutUnderSlices keys its maps by the object.
  const interned = new Map<string, CallFrame>();
  const toCallFrame = (f: Frame): CallFrame => {
    const key = `${f.name}\0${f.file}\0${f.line}\0${f.col}`;
    let frame = interned.get(key);
    if (frame) return frame;
    let script = scripts.get(f.file);
    if (script === undefined) {
      const url = !f.file ? '' : path.isAbsolute(f.file) ? pathToFileURL(f.file).href : f.file;
      scripts.set(f.file, (script = { scriptId: scripts.size, url }));
    }
    frame = { functionName: f.name, url: script.url, scriptId: script.scriptId, lineNumber: f.line - 1, columnNumber: f.col - 1 };
    interned.set(key, frame);
    return frame;
  };
  const sink: StackSink = {
    frame: (f) => frames.push(toCallFrame(f)) - 1,
    stack: (parent, frameId) => {
      parents.push(parent);
      return leaves.push({ id: 0, callFrame: frames[frameId]! }) - 1;
    },
    sample: (stack, _weight, ts) => {
      out.push({ ts: ts ?? 0, stack: stack >= 0 && stack < leaves.length ? arrayOf(stack) : none });
    },
    idle: (ts) => {
      out.push({ ts, stack: none });
    },
  };
  addCpuProfile(sink, profile);
  return out;
}

function safePath(url: string): string | null {
  try {
    return fileURLToPath(url);
  } catch {
    return null;
  }
}
