/**
 * How a bench child is started with the tracer loaded, so the bench's target modules are
 * instrumented when they load: the tracer's preload and its configuration environment.
 */
export interface TracerLaunch {
  execArgv: string[];
  env: Record<string, string>;
}

export async function tracerLaunch(benchFile: string): Promise<TracerLaunch> {
  void benchFile;
  const preload = new URL('../trace/preload.js', import.meta.url).href;
  return { execArgv: ['--import', preload], env: {} };
}
