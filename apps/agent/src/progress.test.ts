import { describe, expect, it } from 'vitest';
import { Progress, formatElapsed } from './progress.ts';

const capture = () => {
  const chunks: string[] = [];
  return { sink: { write: (text: string) => chunks.push(text) }, text: () => chunks.join('') };
};

describe('Progress', () => {
  it('writes plain prefixed lines with no escape codes when not on a terminal', () => {
    const out = capture();
    const err = capture();
    const progress = new Progress({ out: out.sink, err: err.sink, tty: false, color: false, now: () => 65_000 });
    progress.ok('Key pair ready');
    progress.highlight('Ask your operator to approve SHA256:x (vma-01, ACME)');
    progress.startWaiting('Waiting for approval…', 0);
    progress.stopWaiting();
    progress.fail({ exitCode: 3, title: 'Rejected.', detail: 'Reason given: no', action: 'Talk to your operator.' });
    expect(out.text()).toBe(
      '[ok] Key pair ready\n[>>] Ask your operator to approve SHA256:x (vma-01, ACME)\n[..] Waiting for approval…\n',
    );
    expect(err.text()).toBe('[error] Rejected.\n  Reason given: no\n  What to do: Talk to your operator.\n');
    expect(out.text() + err.text()).not.toContain('\u001b');
  });

  it('draws ticks and a live elapsed time on a terminal, and clears the line when done', () => {
    const out = capture();
    const progress = new Progress({ out: out.sink, err: capture().sink, tty: true, color: false, now: () => 83_000 });
    progress.ok('Challenge signed and verified');
    progress.startWaiting('Waiting for approval…', 0);
    progress.info('The server asked for slower polling');
    progress.stopWaiting();
    const text = out.text();
    expect(text).toContain('✓ Challenge signed and verified\n');
    expect(text).toContain('Waiting for approval… 01:23 elapsed');
    expect(text).toContain('  The server asked for slower polling\n');
    expect(text.endsWith('\r\u001b[2K')).toBe(true);
  });
});

describe('formatElapsed', () => {
  it('shows mm:ss, and hours past an hour', () => {
    expect(formatElapsed(0)).toBe('00:00');
    expect(formatElapsed(83_500)).toBe('01:23');
    expect(formatElapsed(3_723_000)).toBe('1:02:03');
  });
});
