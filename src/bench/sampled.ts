/**
 * Turning a bench child's CPU profiles into what a person reads: original TypeScript positions
 * (tsx hands V8 one-line esbuild output, so raw positions are all "line 1"), and stacks without
 * the harness's own frames or the profiler's start/stop.
 */
import { fileURLToPath } from 'node:url';
import { cpuProfileToModel, type CpuProfile } from '../formats/cpuprofile.js';
import { modelToFolded, type FoldedStacks } from '../formats/folded.js';
import { filterFrames } from '../model/index.js';
import { chainSourceMaps, diskSourceMaps, inProcessSourceMaps, sourceMapProfile } from '../sample/index.js';

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
  const samples = profile.samples;
  if (!root || !samples) return profile;
  // A node is the observer's when it or any of its callers is a frame of observe.ts.
  const observer = new Set(profile.nodes.filter((n) => n.callFrame.url === OBSERVER).map((n) => n.id));
  const memo = new Map<number, boolean>();
  const inObserver = (id: number): boolean => {
    const path: number[] = [];
    let hit = false;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const known = memo.get(cur);
      if (known !== undefined) {
        hit = known;
        break;
      }
      path.push(cur);
      if (observer.has(cur)) {
        hit = true;
        break;
      }
    }
    for (const p of path) memo.set(p, hit);
    return hit;
  };
  profile.samples = samples.map((id) => (inObserver(id) ? root.id : id));
  return profile;
}

const HARNESS_DIR = fileURLToPath(new URL('./', import.meta.url));
const OBSERVER = new URL('./observe.js', import.meta.url).href;

/**
 * Folded stacks of one strategy run, one count per sample, from a profile that went through
 * dropObserverSamples (whose samples at the root give no stack). The harness frames under the
 * strategy are cut, so every stack starts where the bench's code does (after Node's own
 * task-queue frames). What counts as CPU is the model's one rule (model/frame.ts frameRole).
 */
export function strategyFolded(profile: CpuProfile, into: FoldedStacks = new Map()): FoldedStacks {
  const p = filterFrames(cpuProfileToModel(profile), (f) => !f.file.startsWith(HARNESS_DIR));
  for (const [key, n] of modelToFolded(p)) into.set(key, (into.get(key) ?? 0) + n);
  return into;
}
