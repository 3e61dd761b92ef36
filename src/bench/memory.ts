/**
 * How much memory a strategy run takes: the most the V8 heap held during the run (used heap plus
 * external memory, which counts Buffers and ArrayBuffers) above what it held when the run started.
 * Used heap only drops at a garbage collection, so its peak is just before one of the run's
 * collections or at the run's end; V8's GC profiler reports the heap before each collection.
 * Measuring growth from the run's start keeps one strategy's leak out of another's figure when
 * they share a process.
 */
import v8 from 'node:v8';

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
