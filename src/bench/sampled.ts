/**
 * Turning a bench child's CPU profiles into what a person reads: original TypeScript positions
 * (tsx hands V8 one-line esbuild output, so raw positions are all "line 1"), and stacks without
 * the harness's own frames or the profiler's start/stop.
 */
import { forEachSampleStack, type CpuProfile } from '../formats/cpuprofile.js';
import { addStack, type FoldedStacks } from '../formats/folded.js';
import { cpuFrameLabel } from '../compare/load.js';
import { chainSourceMaps, diskSourceMaps, inProcessSourceMaps, sourceMapProfile } from '../sample/source-maps.js';

/** Rewrites call frames to original source positions, with the sampler's own mapping. In place. */
export function remapProfile(profile: CpuProfile): CpuProfile {
  return sourceMapProfile(profile, lookup);
}

// tsx registers its output's maps with Node's cache, where the in-process lookup finds them.
const lookup = chainSourceMaps(inProcessSourceMaps(), diskSourceMaps());

/**
 * Samples taken while the profiler was being started or stopped belong to no strategy: they are
 * moved to the root node, which every reader (DevTools included) treats as no JavaScript. In place.
 */
export function dropObserverSamples(profile: CpuProfile): CpuProfile {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const root = profile.nodes.find((n) => !parent.has(n.id));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const inObserver = new Map<number, boolean>();
  const check = (id: number): boolean => {
    let v = inObserver.get(id);
    if (v === undefined) {
      const p = parent.get(id);
      v = byId.get(id)?.callFrame.url === OBSERVER || (p !== undefined && check(p));
      inObserver.set(id, v);
    }
    return v;
  };
  if (root && profile.samples) profile.samples = profile.samples.map((id) => (check(id) ? root.id : id));
  return profile;
}

const HARNESS_DIR = new URL('./', import.meta.url).href;
const OBSERVER = new URL('./observe.js', import.meta.url).href;
const NOT_CPU = new Set(['(idle)', '(program)']);

/**
 * Folded stacks of one strategy run, one count per sample. Samples taken inside the profiler's
 * start/stop are dropped and the harness frames under the strategy are cut, so every stack
 * starts where the bench's code does (after Node's own task-queue frames).
 */
export function strategyFolded(profile: CpuProfile, into: FoldedStacks = new Map()): FoldedStacks {
  forEachSampleStack(profile, (stack) => {
    if (stack.some((n) => n.callFrame.url === OBSERVER)) return;
    const frames = stack.filter((n) => !n.callFrame.url.startsWith(HARNESS_DIR)).map((n) => cpuFrameLabel(n));
    if (frames.length === 0 || NOT_CPU.has(frames[frames.length - 1]!)) return;
    addStack(into, frames, 1);
  });
  return into;
}
