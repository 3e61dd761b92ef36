/**
 * Writing this thread's recording out, shared by the preload's exit/signal paths.
 */
import { flushGc } from './channels.js';
import { writeDump } from './dump.js';
import type { Recorder } from './runtime.js';

/** Snapshot + dump at the thread's end; never throws (a failure is reported through `warn`, once per call). */
export function dumpThread(
  rec: Recorder,
  dir: string,
  processName: string,
  warn: (what: string, err: unknown) => void,
): string | undefined {
  try {
    flushGc(true);
    return writeDump(dir, rec.snapshot(), processName);
  } catch (err) {
    warn('could not save the trace of this thread', err);
    return undefined;
  }
}

/**
 * Runs `fn` once when the thread exits, after every other 'exit' listener, so the calls a program
 * makes in its own exit handlers are in the trace. A listener cannot promise that: ours is added by
 * the preload, before the program's, and EventEmitter calls listeners in order from a copy taken
 * at emit time, so re-appending ours when others are added (or after prependListener) cannot cover
 * listeners added late or during 'exit' itself. Node emits 'exit' through the `process.emit`
 * property (process.exit() and the natural end alike), so `fn` runs when that call returns, even if
 * a listener throws. A plain listener backs it up for the day someone replaces `process.emit`
 * without calling the previous one: it dumps only when the wrapped emit is not running.
 */
export function afterExitListeners(fn: () => void): void {
  let done = false;
  let inWrappedExit = false;
  const once = () => {
    if (done) return;
    done = true;
    fn();
  };
  const emit = process.emit;
  process.emit = function (this: NodeJS.Process, event: string | symbol, ...args: unknown[]): boolean {
    if (event !== 'exit') return (emit as (...a: unknown[]) => boolean).call(this, event, ...args);
    inWrappedExit = true;
    try {
      return (emit as (...a: unknown[]) => boolean).call(this, event, ...args);
    } finally {
      inWrappedExit = false;
      once();
    }
  } as typeof process.emit;
  process.on('exit', () => {
    if (!inWrappedExit) once();
  });
}
