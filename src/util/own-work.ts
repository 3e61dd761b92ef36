/**
 * Work of stackscope's own inside the traced program's thread, which must not be taken for the
 * program's: while `ownWork` runs, the recorder records no Node events from diagnostics channels
 * and no new async resources, and the CommonJS patch does not take the modules it loads (the
 * transform, picomatch, the sampler's stage) for the program's first module that may load an ES
 * module. Used around those loads and around starting Node's loader-hooks thread from inside the
 * running program (a worker start and message ports that are Node's, not the program's).
 */
let depth = 0;

export function inOwnWork(): boolean {
  return depth > 0;
}

export function ownWork<T>(fn: () => T): T {
  depth++;
  try {
    return fn();
  } finally {
    depth--;
  }
}
