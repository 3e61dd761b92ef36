/**
 * Folded stacks, the input of Brendan Gregg's flamegraph.pl: one line per unique stack,
 * `root;caller;callee count`. Nothing else on a line and no header lines, because flamegraph.pl
 * would read them as stacks. Frames must not contain ';' or newlines (they are replaced).
 */

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
