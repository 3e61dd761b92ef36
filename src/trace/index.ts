/** The trace stage's public module. */
export { PRELOAD_PATH } from './session.js';
