// Public library API: everything the CLI does is available from here.

// trace: run a program with every call traced; in-process API for the traced program itself
export { runTrace, type TraceOptions, type TraceResult } from './trace/session.js';
export { isTracing, span, saveTrace, getRecorder, type SaveTraceResult, type ThreadRecorderHandle } from './trace/api.js';
export { writeTrace, type WriteTraceOptions, type WriteTraceResult } from './trace/build.js';
export type { ThreadRecording, ProcessRecording, NodeEvent } from './recorder/recording.js';

// sample: V8's sampling profiler for a run, for a running process, and as a production agent
export { runSampled, type SampleRunOptions, type SampleRunResult } from './sample/run.js';
export { attachAndProfile, type AttachOptions, type AttachResult } from './sample/attach.js';
export { startAgent, type Agent, type AgentOptions } from './agent/index.js';
export {
  PROTOCOL_VERSION,
  parseStacksResponse,
  responseToProfile,
  ProtocolError,
  type AgentIdentity,
  type StacksResponse,
  type WireWindow,
} from './agent/index.js';
export { renderProfile, writeProfile } from './sample/output.js';

// bench: strategies side by side, with statistics and a trace or profile per strategy
export {
  defineBench,
  bench,
  runBench,
  buildReport,
  formatReport,
  type BenchDefinition,
  type Strategy,
  type BenchReport,
  type StrategyResult,
  type BenchMode,
  type RunOptions,
} from './bench/index.js';

// compare: two traces or profiles, function by function
export {
  compareProfiles,
  loadProfile,
  diffProfiles,
  formatCompare,
  type CompareOptions,
  type LoadOptions,
  type ProfileDiff,
  type FunctionDiff,
} from './compare/index.js';

// convert: any profile format to another, through the profile model
export { convertProfile, type ConvertOptions, type ConvertResult, type OutputFormat } from './convert/index.js';

// collect and query: agents polled losslessly into SQLite or PostgreSQL; merged profiles of any range
export { collect, Collector, parseRetention, type CollectOptions, type CollectorStats } from './collect/index.js';
export {
  openStore,
  queryProfile,
  queryTimeline,
  listTargets,
  applyRetention,
  planRange,
  type Store,
  type RangeQuery,
  type TargetFilter,
  type TargetRow,
  type ProfileResult,
  type TimelineResult,
  type Retention,
} from './store/index.js';
export { renderProfileResult, renderTimeline } from './store/render.js';

// the profile model every format reads into and writes from, and its operations
export {
  ProfileBuilder,
  NO_STACK,
  stackFrames,
  totalWeight,
  weightByStack,
  merge,
  filterTime,
  filterFrames,
  timeWeighted,
  callTree,
  functionWeights,
  prune,
  diffFunctions,
  diffStacks,
  addTrackSlices,
  frameKey,
  framePath,
  modelFrameLabel,
  parseFrameLabel,
  frameRole,
  type Profile,
  type Frame,
  type WeightUnit,
  type ProfileMeta,
  type FunctionWeight,
  type FunctionChange,
  type StackChange,
} from './model/index.js';

// the web page: `stackscope ui` over a collector's store or local profile files
export { startUi, StoreSource, FileSource, type UiOptions, type UiServer, type ProfileSource } from './ui/index.js';

// formats and naming shared by every stage
export { frameLabel, displayPath, type FunctionInfo } from './model/frame.js';
export { readProfile, type ReadProfile, type InputFormat } from './formats/read.js';
export { renderModel, OUTPUT_FORMATS, type Rendered } from './formats/write.js';
export { traceToModel } from './formats/trace-read.js';
export { foldedToModel, modelToFolded } from './formats/folded.js';
export { cpuProfileToModel, modelToCpuProfile } from './formats/cpuprofile.js';
export { pprofToModel, modelToPprof } from './formats/pprof.js';
export { modelToSpeedscope, type SpeedscopeFile } from './formats/speedscope.js';
export { TraceEventWriter, readTraceFile, type TraceEvent, type TraceFile } from './formats/trace-event.js';
export { parseFolded, formatFolded, type FoldedStacks } from './formats/folded.js';
export { readCpuProfile, writeCpuProfile, selfTimeShares, type CpuProfile } from './formats/cpuprofile.js';
export { cpuProfileToPprof, decodePprof } from './formats/pprof.js';
export { UserError } from './util/errors.js';
