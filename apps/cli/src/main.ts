/** `pnpm airlock …`: the operator CLI of the internal api. */
import { once } from 'node:events';
import { runCli } from './run.ts';

const io = {
  out: (text: string) => void process.stdout.write(text),
  err: (text: string) => void process.stderr.write(text),
  // Backpressure for streamed lists: wait while stdout (a slow pipe) holds more than its buffer.
  drain: async () => {
    if (process.stdout.writableNeedDrain) await once(process.stdout, 'drain');
  },
};

const code = await runCli(process.argv.slice(2), { io, env: process.env });
// exitCode, not exit(): lets stdout drain when it is a pipe (`| tail -n1`).
process.exitCode = code;
