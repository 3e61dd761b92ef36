/**
 * Turns per-thread dumps into per-process recordings: one DevTools process row per pid
 * (the traced program, each forked child), threads in tid order (main first, then workers).
 */
import type { ProcessRecording } from './recording.js';
import type { DumpedThread } from './dump.js';

export function groupProcesses(threads: DumpedThread[]): ProcessRecording[] {
  const byPid = new Map<number, ProcessRecording>();
  for (const { recording, processName } of threads) {
    let p = byPid.get(recording.pid);
    if (!p) {
      p = { pid: recording.pid, name: processName, threads: [] };
      byPid.set(recording.pid, p);
    }
    if (recording.tid === 0) p.name = processName;
    p.threads.push(recording);
  }
  const out = [...byPid.values()];
  for (const p of out) p.threads.sort((a, b) => a.tid - b.tid);
  // The process that started first is the program itself; children follow in start order.
  const origin = (p: ProcessRecording) => Math.min(...p.threads.map((t) => t.timeOrigin));
  return out.sort((a, b) => origin(a) - origin(b));
}
