/** The trace stage's public module. */
export { PRELOAD_PATH } from './session.js';
export { TraceSamples } from './samples.js';
export { clockOriginUs, type ThreadSamplesFile } from './sampling.js';
