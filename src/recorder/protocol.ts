/**
 * The recorder's light public module: the preload's configuration, the record format the trace
 * builder reads, and the signal bookkeeping. Loading it loads no runtime, so the preload's gate and
 * the CLI stay cheap.
 */
export * from './config.js';
export * from './recording.js';
export * from './signals.js';
export { RUNTIME_GLOBAL, inertRuntime } from './runtime-api.js';
