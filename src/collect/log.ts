/**
 * The collector's log on stderr: one line per event (a problem starting or ending, a restart, a
 * summary), as text or, with --json, as one JSON object a line for machines. Target names come from
 * the network and files: they are printed as JSON strings or stripped of control characters.
 */
export type LogEvent =
  'start' | 'problem' | 'recovered' | 'restart' | 'missed' | 'targets' | 'store' | 'buffer' | 'summary' | 'retention' | 'stop';

export interface Logger {
  (event: LogEvent, message: string, fields?: Record<string, unknown>): void;
}

const clean = (s: string) => s.replace(/[\u0000-\u001f\u007f]/g, '?');

export function createLogger(json: boolean, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  return (event, message, fields = {}) => {
    if (json) write(JSON.stringify({ time: new Date().toISOString(), event, message, ...fields }) + '\n');
    else write(`stackscope collect: ${clean(message)}\n`);
  };
}
