/**
 * The private channel between the harness and a bench child: a socket on an extra file descriptor
 * of the child (not Node's IPC channel, which the bench's own code may use), one JSON message per
 * line. JSON.stringify never writes a raw newline, so a line is always a whole message.
 */
import type { Socket } from 'node:net';

/** A line longer than this is not one of ours: dropped rather than buffered without end. */
const MAX_LINE = 64 * 1024 * 1024;

/** Calls `onLine` with each line parsed as JSON (undefined: not JSON, or an over-long line). */
export function readLines(socket: Socket, onLine: (value: unknown) => void): void {
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        value = undefined;
      }
      onLine(value);
    }
    if (buf.length > MAX_LINE) {
      buf = '';
      onLine(undefined);
    }
  });
}

/** Writes one message; resolves once it is handed to the system (or the channel is gone). */
export function writeLine(socket: Socket, value: unknown): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed || !socket.writable) return resolve();
    socket.write(JSON.stringify(value) + '\n', () => resolve());
  });
}
