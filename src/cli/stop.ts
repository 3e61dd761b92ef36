/**
 * Long-running commands (collect, serve, ui) run until Ctrl-C or SIGTERM, then finish their work
 * (a collector writes what it read). The first signal aborts `run`'s signal; the handlers are removed
 * afterwards, so a second signal acts as usual.
 */
export async function runUntilStopped<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await run(ac.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Resolves when the signal aborts. */
export function stopped(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}
