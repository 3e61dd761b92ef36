/**
 * Work of stackscope's own that the recorder must not mistake for the program's: while `quietly`
 * runs, Node events from diagnostics channels and new async resources are not recorded. Used when
 * the instrumenter starts Node's loader-hooks thread from inside the running program (a worker
 * start and message ports that are Node's, not the program's).
 */
let depth = 0;

export function isQuiet(): boolean {
  return depth > 0;
}

export function quietly<T>(fn: () => T): T {
  depth++;
  try {
    return fn();
  } finally {
    depth--;
  }
}
