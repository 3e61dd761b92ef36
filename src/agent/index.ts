/**
 * The agent stage's public module: the in-process production agent and its wire protocol (which a
 * collector imports on its own from `protocol.ts`).
 */
export { startAgent, type Agent, type AgentOptions } from './agent.js';
export { DEFAULT_MAX_MEMORY, parseLabels } from './config.js';
export * from './protocol.js';
