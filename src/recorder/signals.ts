/**
 * A traced process must die of a signal like the untraced one, but the recorder's signal
 * listener (needed to dump first) only runs when the main thread gets back to the event loop: a
 * program stuck in a synchronous loop would ignore Ctrl-C forever. So the listener leaves a
 * marker ("I saw it"), and the `stackscope trace` session, on a repeated signal with no marker,
 * knows the program is stuck and kills it.
 */
import fs from 'node:fs';
import path from 'node:path';

/**
 * The signals a traced program must die of as untraced: the session forwards them to the program,
 * whose preload dumps the trace before dying of them.
 */
export const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function markerPath(dir: string, pid: number): string {
  return path.join(dir, `signal-seen-${pid}`);
}

/** Called from the traced process's signal listener. Never throws. */
export function markSignalSeen(dir: string): void {
  try {
    fs.writeFileSync(markerPath(dir, process.pid), '');
  } catch {
    /* only weakens the stuck-program check */
  }
}

/** Called by the session: has process `pid` run JS since a signal reached it? */
export function signalSeen(dir: string, pid: number): boolean {
  return fs.existsSync(markerPath(dir, pid));
}
