/**
 * One entry of a module's function table, as the instrumenter writes it into the module and the
 * recorder reads it back: `name \t line \t col [\t file]`. Names and files come from the profiled
 * code (a method may be called `"x\t(/etc/passwd:999)"`), so a tab or backslash inside a field is
 * escaped: no name can add, move or replace a field.
 */

const ESCAPES = /[\\\t]/g;
const ESCAPED = /\\(.)/g;

function escapeField(s: string): string {
  return s.replace(ESCAPES, (c) => (c === '\t' ? '\\t' : '\\\\'));
}

function unescapeField(s: string): string {
  return s.includes('\\') ? s.replace(ESCAPED, (_, c: string) => (c === 't' ? '\t' : c)) : s;
}

export function encodeTableEntry(name: string, line: number, col: number, file?: string): string {
  const head = `${escapeField(name)}\t${line}\t${col}`;
  return file === undefined ? head : `${head}\t${escapeField(file)}`;
}

export function decodeTableEntry(entry: string): { name: string; line: number; col: number; file: string | undefined } {
  const [name = '', line = '0', col = '0', file] = entry.split('\t');
  return { name: unescapeField(name), line: Number(line) || 0, col: Number(col) || 0, file: file ? unescapeField(file) : undefined };
}
