/**
 * `node --import stackscope/agent app.js`: starts the production agent from STACKSCOPE_* environment
 * variables (see config.ts). Never blocks or breaks the application's start: a failure is
 * reported once on stderr and the application runs unprofiled. STACKSCOPE_PORT_FILE, if set,
 * receives the bound port (handy with STACKSCOPE_PORT=0).
 */
import fs from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { agentOptionsFromEnv } from './config.js';
import { reportAgentFailure, startAgent } from './agent.js';

// --import runs in every worker thread too: only the main thread hosts an agent.
if (isMainThread) {
  try {
    startAgent(agentOptionsFromEnv()).then(
      (agent) => {
        const file = process.env.STACKSCOPE_PORT_FILE;
        if (file) fs.writeFileSync(file, `${agent.port}\n`);
      },
      (err: Error) => reportAgentFailure(`not started: ${err.message}`),
    );
  } catch (err) {
    reportAgentFailure(`not started: ${(err as Error).message}`);
  }
}
