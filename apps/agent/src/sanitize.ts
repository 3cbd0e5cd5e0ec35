/**
 * Terminal safety for anything that reaches the person at the far end. A
 * hostile or broken server (or a certificate's names quoted in a TLS error)
 * must not be able to move the cursor, rewrite earlier lines, set the window
 * title or fake a line of our own, so escape sequences are dropped and every
 * other C0/C1 control character (newlines included) becomes a space.
 *
 * @example
 *   stripControls('ok\u001b[2K\rfake') // => 'ok fake'
 */
export const stripControls = (text: string): string =>
  text
    // CSI and OSC sequences whole, so no half of one survives as text.
    // eslint-disable-next-line no-control-regex
    .replace(/\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(\u0007|\u001b\\)?|\u009b[0-?]*[ -/]*[@-~]/g, '')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ');
