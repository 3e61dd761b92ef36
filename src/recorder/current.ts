/**
 * Finds this thread's recorder. The runtime object on `globalThis.__stackscope` is the source of
 * truth (not a module variable), so a program that loads another copy of stackscope than the
 * preload did still finds the live recorder.
 */
import { RUNTIME_GLOBAL } from './runtime-api.js';
import type { Recorder } from './runtime.js';

export function currentRecorder(): Recorder | undefined {
  const rt = (globalThis as Record<string, unknown>)[RUNTIME_GLOBAL] as Partial<Recorder> | undefined;
  return rt && typeof rt.snapshot === 'function' && typeof rt.clear === 'function' ? (rt as Recorder) : undefined;
}

export function setCurrentRecorder(rec: Recorder): void {
  Object.defineProperty(globalThis, RUNTIME_GLOBAL, { value: rec, writable: false, configurable: true, enumerable: false });
}
