import type { Explanation } from './messages.ts';
import { stripControls } from './sanitize.ts';

export interface Sink {
  write(text: string): unknown;
}

export interface ProgressOptions {
  out: Sink;
  err: Sink;
  /** Animate (spinner, live elapsed time) only on a terminal; logs get plain lines. */
  tty: boolean;
  color: boolean;
  now?: () => number;
  /** Plain mode prints a "still waiting" line this often. */
  plainHeartbeatMs?: number;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** `mm:ss`, or `h:mm:ss` past an hour. */
export const formatElapsed = (ms: number): string => {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mmss = `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
};

/**
 * What the person at the far end reads: a tick per completed step and a live
 * elapsed time while waiting on a terminal; plain prefixed lines, no escape
 * codes, when stdout is a file or a journal (which adds its own timestamps).
 */
export class Progress {
  private waiting: { label: string; since: number; timer: NodeJS.Timeout; frame: number } | null = null;
  private readonly now: () => number;

  constructor(private readonly o: ProgressOptions) {
    this.now = o.now ?? Date.now;
  }

  private paint(code: string, text: string): string {
    return this.o.color ? `\u001b[${code}m${text}\u001b[0m` : text;
  }

  /**
   * Every line goes through here. Our own colours are added after the text
   * was cleaned (see paint), so whatever a server managed to get into a
   * message cannot reach the terminal as a control sequence.
   */
  private print(sink: Sink, line: string): void {
    if (this.waiting && this.o.tty) this.o.out.write('\r\u001b[2K');
    sink.write(`${line}\n`);
    if (this.waiting && this.o.tty) this.drawWaiting();
  }

  ok(raw: string): void {
    const text = stripControls(raw);
    this.print(this.o.out, this.o.tty ? `${this.paint('32', '✓')} ${text}` : `[ok] ${text}`);
  }

  info(raw: string): void {
    const text = stripControls(raw);
    this.print(this.o.out, this.o.tty ? `  ${text}` : `[..] ${text}`);
  }

  /** The one line an operator must act on; bold on a terminal. */
  highlight(raw: string): void {
    const text = stripControls(raw);
    this.print(this.o.out, this.o.tty ? `${this.paint('1', `→ ${text}`)}` : `[>>] ${text}`);
  }

  warn(raw: string): void {
    const text = stripControls(raw);
    this.print(this.o.err, this.o.tty ? `${this.paint('33', '!')} ${text}` : `[warn] ${text}`);
  }

  fail(e: Explanation): void {
    const title = stripControls(e.title);
    const lines = [this.o.tty ? `${this.paint('31', '✗')} ${title}` : `[error] ${title}`];
    if (e.detail) lines.push(`  ${stripControls(e.detail)}`);
    lines.push(`  ${this.o.tty ? this.paint('1', 'What to do:') : 'What to do:'} ${stripControls(e.action)}`);
    this.stopWaiting();
    for (const line of lines) this.print(this.o.err, line);
  }

  /** Plain text, no prefix (summaries, help). */
  plain(raw: string): void {
    const text = stripControls(raw);
    this.print(this.o.out, text);
  }

  startWaiting(label: string, since: number): void {
    this.stopWaiting();
    const interval = this.o.tty ? 1000 : (this.o.plainHeartbeatMs ?? 60_000);
    const timer = setInterval(() => {
      if (!this.waiting) return;
      if (this.o.tty) {
        this.waiting.frame += 1;
        this.drawWaiting();
      } else {
        this.o.out.write(`[..] ${label} (${formatElapsed(this.now() - since)} elapsed)\n`);
      }
    }, interval);
    // The spinner must never be what keeps the process alive.
    timer.unref();
    this.waiting = { label, since, timer, frame: 0 };
    if (this.o.tty) this.drawWaiting();
    else this.o.out.write(`[..] ${label}\n`);
  }

  stopWaiting(): void {
    if (!this.waiting) return;
    clearInterval(this.waiting.timer);
    this.waiting = null;
    if (this.o.tty) this.o.out.write('\r\u001b[2K');
  }

  private drawWaiting(): void {
    if (!this.waiting) return;
    const { label, since, frame } = this.waiting;
    const spin = SPINNER[frame % SPINNER.length] ?? '.';
    this.o.out.write(`\r\u001b[2K${this.paint('36', spin)} ${label} ${this.paint('2', `${formatElapsed(this.now() - since)} elapsed`)}`);
  }
}
