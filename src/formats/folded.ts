/**
 * Folded stacks, the input of Brendan Gregg's flamegraph.pl: one line per unique stack,
 * `root;caller;callee count`. Nothing else on a line and no header lines, because flamegraph.pl
 * would read them as stacks. Frames must not contain ';' or newlines (they are replaced).
 *
 * In the model: frames are read back from their labels (model/frame.ts parseFrameLabel), so a file
 * stays as the writer showed it (relative to the folder it ran in); counts are the weights, with no
 * times. Written, labels show files relative to the working directory.
 */
import { NO_STACK, ProfileBuilder, modelFrameLabel, parseFrameLabel, weightByStack, type Profile } from '../model/index.js';

/** stack (frames joined by ';', root first) -> count */
export type FoldedStacks = Map<string, number>;

/** Makes a frame name safe for the folded format. */
export function foldedFrame(name: string): string {
  return name.replace(/[;\r\n]/g, ',');
}

/** Joins frames (root first) into a folded stack key. */
export function foldedKey(frames: readonly string[]): string {
  return frames.map(foldedFrame).join(';');
}

/** Adds `count` to a stack. */
export function addStack(stacks: FoldedStacks, frames: readonly string[], count = 1): void {
  const key = foldedKey(frames);
  stacks.set(key, (stacks.get(key) ?? 0) + count);
}

/** Formats stacks as folded text, heaviest first (any order is valid; this one reads best). */
export function formatFolded(stacks: FoldedStacks): string {
  const lines = [...stacks].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return lines.map(([k, n]) => `${k} ${Math.round(n)}`).join('\n') + (lines.length ? '\n' : '');
}

/** Parses folded text; throws on a line that is not `frames count`. */
export function parseFolded(text: string): FoldedStacks {
  const stacks: FoldedStacks = new Map();
  let lineNo = 0;
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.trimEnd();
    if (!line) continue;
    const sp = line.lastIndexOf(' ');
    const count = sp > 0 ? Number(line.slice(sp + 1)) : NaN;
    if (!Number.isFinite(count) || sp <= 0) throw new Error(`line ${lineNo} is not "frames count": ${line.slice(0, 80)}`);
    const key = line.slice(0, sp);
    stacks.set(key, (stacks.get(key) ?? 0) + count);
  }
  return stacks;
}

/** Folded stacks in the model: one sample per stack, weighted by its count, no time. */
export function foldedToModel(stacks: FoldedStacks, name?: string): Profile {
  const b = new ProfileBuilder('samples');
  const frameIds = new Map<string, number>();
  for (const [key, count] of stacks) {
    let s = NO_STACK;
    for (const label of key.split(';')) {
      let f = frameIds.get(label);
      if (f === undefined) frameIds.set(label, (f = b.frame(parseFrameLabel(label))));
      s = b.stack(s, f);
    }
    if (count !== 0) b.sample(s, count);
  }
  if (name !== undefined) b.meta = { name };
  return b.build();
}

/**
 * The model as folded stacks: each stack's weights added up (sample counts, or µs of self time for
 * a trace; formatFolded rounds them), frames labelled `name (file:line)` relative to `cwd`.
 */
export function modelToFolded(p: Profile, cwd: string = process.cwd(), weights: readonly number[] = p.sampleWeight): FoldedStacks {
  const labels = p.frames.map((f) => foldedFrame(modelFrameLabel(f, cwd)));
  const keys = new Map<number, string>();
  const keyOf = (stack: number): string => {
    // Up to the nearest stack already named, then down (stacks can be thousands deep).
    const chain: number[] = [];
    let s = stack;
    let k: string | undefined;
    for (; s !== NO_STACK && (k = keys.get(s)) === undefined; s = p.stackParent[s]!) chain.push(s);
    for (let i = chain.length - 1; i >= 0; i--) {
      const own = labels[p.stackFrame[chain[i]!]!]!;
      k = k === undefined ? own : `${k};${own}`;
      keys.set(chain[i]!, k);
    }
    return k!;
  };
  const out: FoldedStacks = new Map();
  for (const [stack, w] of weightByStack(p, weights)) {
    const k = keyOf(stack);
    out.set(k, (out.get(k) ?? 0) + w);
  }
  return out;
}
