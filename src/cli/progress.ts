/**
 * The one progress widget of the CLI: a status line on a terminal's stderr, redrawn in place at most
 * every `intervalMs`, first shown after `delayMs` (work that ends sooner shows nothing), and erased at
 * the end. Redirected stderr (logs, CI, tests) gets no progress at all: `statusLine` returns undefined.
 */
export interface StatusLine {
  /** redraws the line with `text` (throttled; `force` draws now, e.g. for a final 100 %) */
  show(text: string, force?: boolean): void;
  /** erases the line if it was ever drawn */
  end(): void;
}

type Stream = Pick<NodeJS.WriteStream, 'isTTY' | 'write'> & { columns?: number };

export function statusLine(stream: Stream, intervalMs = 100, delayMs = 300): StatusLine | undefined {
  if (!stream.isTTY) return undefined;
  let last = Date.now() + delayMs - intervalMs;
  let shown = false;
  return {
    show(text, force = false) {
      const now = Date.now();
      if (now - last < intervalMs && !(shown && force)) return;
      last = now;
      shown = true;
      stream.write(`\r\x1b[K${text.slice(0, (stream.columns || 200) - 1)}`);
    },
    end() {
      if (shown) stream.write('\r\x1b[K');
    },
  };
}
