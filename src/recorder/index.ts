/** The recorder stage's public module: the runtime that records calls, and what reads its dumps. */
export * from './protocol.js';
export { Recorder } from './runtime.js';
export { attachChannels, flushGc } from './channels.js';
export { currentRecorder, setCurrentRecorder } from './current.js';
export { afterExitListeners, dumpThread } from './lifecycle.js';
export { readDumpDir, writeDump } from './dump.js';
export { announceWorker, workerRegistry } from './workers.js';
export { groupProcesses } from './group.js';
export { span } from './span.js';
