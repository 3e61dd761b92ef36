/**
 * The sample stage's public module: what other stages (the agent) use of it. `attach` is left out
 * on purpose: it pulls in a WebSocket client, which the agent must not load into the host process
 * (the library index imports it directly).
 */
export { runSampled, type SampleRunOptions, type SampleRunResult } from './run.js';
export { renderProfile, writeProfile, CONTENT_TYPE } from './output.js';
export { parseInterval, parseSeconds, parseFormat, MAX_TIMER_S, type ProfileFormat } from './options.js';
export {
  MAX_CACHED_SCRIPTS,
  chainSourceMaps,
  diskSourceMaps,
  findSourceMapPayload,
  inProcessSourceMaps,
  sourceMapProfile,
  traceMapOf,
  type SourceMapLookup,
} from './source-maps.js';
