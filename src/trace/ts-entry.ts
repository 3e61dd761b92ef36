/**
 * Imported with `--import` by a traced TypeScript program, for nothing it contains: given an
 * `--import`, Node runs the entry through its ES module loader, as it does under the `tsx`
 * command and `node --import tsx`, so the program's stack traces keep the frames they have
 * there. (Run with `--require` alone, an error thrown after an `await` shows one more frame,
 * `process.processTicksAndRejections`.)
 */
export {};
