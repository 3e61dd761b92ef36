/**
 * Loaded with `node --require <this file> script` by `stackscope trace` (and inherited by worker
 * threads and forked children through execArgv). Only decides whether this thread is traced, and
 * then loads preload-main.js: threads that are not traced (the loader-hooks thread, a child
 * started without the configuration) load nothing more, which keeps the start-up cost down.
 *
 * Synchronous on purpose: the session loads this file with `--require` (require(esm), Node >= 20.19),
 * which forbids top-level await. `--import` would make Node run a CommonJS entry through its ESM
 * translator, changing the internal frames of the program's own stack traces.
 */
import { createRequire } from 'node:module';
import { isMainThread } from 'node:worker_threads';
import { RUNTIME_GLOBAL, TRACE_ENV, inertRuntime } from '../recorder/protocol.js';
import { HOOKS_THREAD_ENV } from './preload-env.js';

const hooksThread = !isMainThread && process.env[HOOKS_THREAD_ENV] === '1';
// The program's own loader hooks run in that thread, instrumented like the rest of its modules:
// they run untraced there, on a runtime that records nothing.
if (hooksThread) Object.defineProperty(globalThis, RUNTIME_GLOBAL, { value: inertRuntime(), configurable: true, writable: true });
// No configuration (e.g. a child started with a cleared environment): run untraced, silently.
if (!hooksThread && process.env[TRACE_ENV]) createRequire(import.meta.url)('./preload-main.js');
