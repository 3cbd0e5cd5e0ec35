/**
 * `pnpm test`'s first step after `pnpm install`: stop before any test runs
 * when the machine lacks a tool, an account or a service the tests drive,
 * with one message that says how to fix each (core.ts). With
 * AIRLOCK_TEST_INSTALL=1 (or --install), as root with apt-get, it installs
 * the packages and creates the accounts first, saying what it runs.
 *
 *   node --import tsx scripts/preflight/main.ts [--install] [--tools-only]
 *
 * --tools-only skips Postgres and Redis: `.ci/run` installs with it before
 * it starts them. Exit 0 ready, 1 not ready, 2 usage.
 */
import { execFileSync } from 'node:child_process';
import { assess, installRequested, installSteps, ready, report, shellLine, type InstallOutcome } from './core.ts';
import { probe } from './probe.ts';

const say = (line: string) => process.stderr.write(`[preflight] ${line}\n`);

const main = async (): Promise<number> => {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--install' && a !== '--tools-only');
  if (unknown.length > 0) {
    say(`unknown argument ${unknown.join(' ')} (usage: main.ts [--install] [--tools-only])`);
    return 2;
  }
  const asked = installRequested(process.env['AIRLOCK_TEST_INSTALL']);
  if (typeof asked === 'object') {
    say(asked.problem);
    return 2;
  }
  const services = !args.includes('--tools-only');
  const started = Date.now();
  let facts = await probe({ services });
  let findings = assess(facts);
  let outcome: InstallOutcome = 'not-asked';

  const steps = installSteps(findings);
  if (!ready(findings) && (asked || args.includes('--install')) && steps.length > 0) {
    if (!facts.root || !facts.aptGet) {
      outcome = 'cannot';
    } else {
      outcome = 'done';
      for (const step of steps) {
        say(`running: ${shellLine(step)}`);
        try {
          execFileSync(step[0] ?? '', step.slice(1), {
            stdio: ['ignore', 'ignore', 'inherit'],
            env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
          });
        } catch {
          say(`failed: ${shellLine(step)}`);
        }
      }
      facts = await probe({ services });
      findings = assess(facts);
    }
  }

  const message = report(findings, outcome);
  if (message !== null) {
    process.stderr.write(message);
    return 1;
  }
  say(`system tools, tunnel accounts${services ? ', Postgres and Redis' : ''} ready (${Date.now() - started} ms)`);
  return 0;
};

process.exitCode = await main();
