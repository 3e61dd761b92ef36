/**
 * How much memory a strategy run takes: the most the V8 heap held during the run (used heap plus
 * external memory, which counts Buffers and ArrayBuffers) above what it held when the run started.
 * Used heap only drops at a garbage collection, so its peak is just before one of the run's
 * collections or at the run's end; V8's GC profiler reports the heap before each collection.
 * The heap is emptied of garbage first and the growth is measured from there, so neither an
 * earlier run's garbage nor another strategy's leak (they share a process) is in the figure.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

let collect: (() => void) | undefined;

/**
 * Collects all garbage. The flag exposes `gc` only in contexts made after it is set, so the
 * bench's code (in the main context) sees no `gc` it did not have.
 */
function collectGarbage(): void {
  if (!collect) {
    v8.setFlagsFromString('--expose-gc');
    collect = vm.runInNewContext('gc') as () => void;
  }
  // Twice: the first collection finds dead Buffers, the second frees their memory.
  collect();
  collect();
}

/** What the GC profiler really reports per collection (its typings name other fields). */
interface GcHeap {
  usedHeapSize: number;
  externalMemory: number;
}

const held = () => {
  const h = v8.getHeapStatistics();
  return h.used_heap_size + h.external_memory;
};

/** Starts watching; the function returned stops and gives the peak growth in bytes (0 at least). */
export function watchHeap(): () => number {
  collectGarbage();
  const base = held();
  const gc = new v8.GCProfiler();
  gc.start();
  return () => {
    const { statistics } = gc.stop();
    let peak = held();
    for (const s of statistics) {
      const h = s.beforeGC.heapStatistics as unknown as GcHeap;
      peak = Math.max(peak, h.usedHeapSize + h.externalMemory);
    }
    return Math.max(0, peak - base);
  };
}
