/** The instrument stage's public module: the load hooks, the transform cache, and its protocol. */
export * from './protocol.js';
export { installHooks } from './hooks.js';
