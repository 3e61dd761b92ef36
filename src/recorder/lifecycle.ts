/**
 * Writing this thread's recording out, shared by the preload's exit/signal paths.
 */
import { flushGc } from './channels.js';
import { writeDump } from './dump.js';
import type { Recorder } from './runtime.js';

/** Snapshot + dump; never throws (a failure is reported through `warn`, once per call). */
export function dumpThread(rec: Recorder, dir: string, processName: string, warn: (what: string, err: unknown) => void): string | undefined {
  try {
    flushGc();
    return writeDump(dir, rec.snapshot(), processName);
  } catch (err) {
    warn('could not save the trace of this thread', err);
    return undefined;
  }
}
