import { describe, expect, it } from 'vitest';
import { Progress } from './progress.ts';
import { stripControls } from './sanitize.ts';

describe('stripControls', () => {
  it('drops CSI and OSC sequences whole and turns other controls, newlines included, into spaces', () => {
    expect(stripControls('ok\u001b[2K\rfake')).toBe('ok fake');
    expect(stripControls('a\u001b]0;pwned\u0007b')).toBe('ab');
    expect(stripControls('a\u009b31mb\u0085c\nd\u2028e')).toBe('ab c d e');
    expect(stripControls('plain text, unicode kept: é ✓')).toBe('plain text, unicode kept: é ✓');
  });

  it('is applied to every line Progress prints, while its own colours still reach a terminal', () => {
    let out = '';
    let err = '';
    const progress = new Progress({ out: { write: (t: string) => (out += t) }, err: { write: (t: string) => (err += t) }, tty: true, color: true });
    progress.ok('id \u001b[2Kx');
    progress.fail({ exitCode: 1, title: 't\u001b]0;x\u0007', detail: 'd\r\nFAKE', action: 'a' });
    expect(out).toBe('\u001b[32m✓\u001b[0m id x\n');
    expect(err).not.toMatch(/\u001b\]|\r|\nFAKE/);
    expect(err).toContain('d  FAKE');
  });
});
