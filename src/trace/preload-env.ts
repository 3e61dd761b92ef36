/**
 * What the trace preload reads from the environment besides its PreloadConfig.
 */
/**
 * `--require` preloads also run in the loader-hooks thread that module.register() starts (Node
 * strips only --import/--loader from its execArgv). That thread is Node's, not the program's: the
 * main thread marks it through the environment, which a new thread copies when it is created.
 */
export const HOOKS_THREAD_ENV = 'STACKSCOPE_HOOKS_THREAD';

/** Where a traced thread keeps its live CPU sampler (`--sample`), for saveTrace() in any copy of stackscope. */
export const SAMPLER_GLOBAL = 'stackscope.sampler';
