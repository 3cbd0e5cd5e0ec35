/**
 * Reads a password from standard input for `operators set-password`.
 * On a terminal: prompt on stderr, no echo, asked twice. Otherwise (a pipe,
 * a file, automation): exactly one line, no prompt and no confirmation.
 */
import type { Readable, Writable } from 'node:stream';

export interface PasswordInput extends Readable {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

const MAX_INPUT = 1024;

/** First line of a non-terminal stream (CR/LF stripped); refuses more than one non-empty line. */
const readOneLine = async (input: Readable): Promise<string> => {
  let text = '';
  for await (const chunk of input) {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    if (text.length > MAX_INPUT) throw new Error('the password on standard input is too long');
  }
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  if (lines.length !== 1) throw new Error('expected exactly one line (the password) on standard input');
  return lines[0] ?? '';
};

/** One line from a terminal with echo off: raw mode, our own line editing (backspace, Ctrl-C). */
const readHidden = (input: PasswordInput, prompt: string, err: Writable): Promise<string> =>
  new Promise((resolve, reject) => {
    // Echo off before the prompt shows: whatever is typed after seeing it is never echoed.
    input.setRawMode?.(true);
    err.write(prompt);
    input.resume();
    let value = '';
    const done = (fn: () => void) => {
      input.setRawMode?.(false);
      input.pause();
      input.off('data', onData);
      err.write('\n');
      fn();
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(() => resolve(value));
        if (ch === '\u0003') return done(() => reject(new Error('cancelled')));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
        if (value.length > MAX_INPUT) return done(() => reject(new Error('the password is too long')));
      }
    };
    input.on('data', onData);
  });

export const readPassword = async (input: PasswordInput, err: Writable): Promise<string> => {
  if (!input.isTTY) return readOneLine(input);
  const first = await readHidden(input, 'New console password: ', err);
  const second = await readHidden(input, 'Repeat it: ', err);
  if (first !== second) throw new Error('the two passwords differ');
  return first;
};

