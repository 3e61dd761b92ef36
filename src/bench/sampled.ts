/**
 * Turning a bench child's CPU profiles into what a person reads: original TypeScript positions
 * (tsx hands V8 one-line esbuild output, so raw positions are all "line 1"), and stacks without
 * the harness's own frames or the profiler's start/stop.
 */
import { forEachSampleStack, nodeLabeller, type CpuProfile, type CpuProfileNode } from '../formats/cpuprofile.js';
import { addStack, type FoldedStacks } from '../formats/folded.js';
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
  const children = new Set(profile.nodes.flatMap((n) => n.children ?? []));
  const root = profile.nodes.find((n) => !children.has(n.id));
  const samples = profile.samples;
  if (!root || !samples) return profile;
  const kept: number[] = [];
  forEachSampleStack(profile, (stack) => kept.push(inObserver(stack) ? root.id : samples[kept.length]!));
  profile.samples = kept;
  return profile;
}

const inObserver = (stack: CpuProfileNode[]) => stack.some((n) => n.callFrame.url === OBSERVER);

const HARNESS_DIR = new URL('./', import.meta.url).href;
const OBSERVER = new URL('./observe.js', import.meta.url).href;
const NOT_CPU = new Set(['(idle)', '(program)']);

/**
 * Folded stacks of one strategy run, one count per sample, from a profile that went through
 * dropObserverSamples (whose samples at the root give no stack). The harness frames under the
 * strategy are cut, so every stack starts where the bench's code does (after Node's own
 * task-queue frames).
 */
export function strategyFolded(profile: CpuProfile, into: FoldedStacks = new Map()): FoldedStacks {
  const label = nodeLabeller(); // each node named once, not once per sample
  forEachSampleStack(profile, (stack) => {
    const frames = stack.filter((n) => !n.callFrame.url.startsWith(HARNESS_DIR)).map(label);
    if (frames.length === 0 || NOT_CPU.has(frames[frames.length - 1]!)) return;
    addStack(into, frames, 1);
  });
  return into;
}
