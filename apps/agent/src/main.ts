#!/usr/bin/env -S npx tsx
import { createInterface } from 'node:readline/promises';
import { runCli } from './cli.ts';
import { ExitCode } from './exit-codes.ts';

// `airlock-agent status | head`: the reader went away. Nothing more can be
// said to it, and a stack trace about it would only land in the next pipe.
const quietOnEpipe = (error: NodeJS.ErrnoException): void => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : ExitCode.Ok);
};
process.stdout.on('error', quietOnEpipe);
process.stderr.on('error', quietOnEpipe);

// First Ctrl-C / SIGTERM: finish the request in flight (it may carry one-time
// credentials), save state and exit 130. A second one quits at once.
const controller = new AbortController();
let signals = 0;
const onSignal = (): void => {
  signals += 1;
  if (signals === 1) {
    controller.abort();
    // Usually the flow stops at once; only a request in flight can make it wait, so say why.
    setTimeout(() => {
      process.stderr.write('\nairlock-agent: finishing the request in flight so nothing is lost (press Ctrl-C again to quit now)\n');
    }, 1000).unref();
    return;
  }
  process.stderr.write('\nairlock-agent: stopping now.\n');
  process.exit(ExitCode.Interrupted);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

/** One line from the terminal; null at end of input or on Ctrl-C. */
const prompt = async (question: string): Promise<string | null> => {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  try {
    return await rl.question(question, { signal: controller.signal });
  } catch {
    return null;
  } finally {
    rl.close();
  }
};

const argv = process.argv.slice(2);
const code = await runCli(argv, {
  out: process.stdout,
  err: process.stderr,
  env: process.env,
  signal: controller.signal,
  ...(process.stdin.isTTY ? { prompt } : {}),
});
process.exitCode = code;
