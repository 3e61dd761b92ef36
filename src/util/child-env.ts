/**
 * The one way stackscope hands settings to a process it starts (the traced or sampled program, a
 * bench child): JSON in one environment variable. A variable the program must not see is taken
 * (read, then removed from process.env) before the program's code runs; one that descendants need
 * (the tracer's, so forked children and workers are traced too) is only read.
 */
export function childEnv(name: string, settings: object): Record<string, string> {
  return { [name]: JSON.stringify(settings) };
}

/** The settings in `name`, or undefined when it is not set; throws a one-line Error on bad JSON. */
export function readChildEnv<T extends object>(
  name: string,
  opts: { take?: boolean; env?: NodeJS.ProcessEnv } = {},
): Partial<T> | undefined {
  const env = opts.env ?? process.env;
  const raw = env[name];
  if (opts.take) delete env[name];
  if (!raw) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error(`${name} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${name} is not a JSON object`);
  return parsed as Partial<T>;
}
