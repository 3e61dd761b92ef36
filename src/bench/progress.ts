/** A one-line progress bar on a terminal's stderr; silent when stderr is not a TTY. */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): { update(done: number, total: number, label: string): void; done(): void } {
  if (!stream.isTTY) return { update() {}, done() {} };
  let last = 0;
  return {
    update(done, total, label) {
      const now = Date.now();
      if (done < total && now - last < 50) return;
      last = now;
      const width = 30;
      const filled = Math.round((done / total) * width);
      const text = `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${done}/${total} ${label}`;
      stream.write(`\r${text.slice(0, (stream.columns || 80) - 1)}\x1b[K`);
    },
    done() {
      stream.write('\r\x1b[K');
    },
  };
}
