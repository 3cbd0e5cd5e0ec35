#!/usr/bin/env -S npx tsx
import { runCli } from './cli.ts';
import { ExitCode } from './exit-codes.ts';

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

const code = await runCli(process.argv.slice(2), {
  out: process.stdout,
  err: process.stderr,
  env: process.env,
  signal: controller.signal,
});
process.exitCode = code;
