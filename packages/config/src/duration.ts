/**
 * A lifetime: whole seconds (`86400`) or units, largest first (`24h`, `90m`,
 * `7d`, `1h30m`). Returns seconds, or null when the text is neither.
 *
 * @example
 *   parseDuration('1h30m'); // 5400
 *   parseDuration('soon');  // null
 */
export const parseDuration = (text: string): number | null => {
  if (/^\d{1,9}$/.test(text)) return Number(text);
  const m = /^(?:(\d{1,5})d)?(?:(\d{1,6})h)?(?:(\d{1,7})m)?(?:(\d{1,9})s)?$/.exec(text);
  if (!m || text === '') return null;
  const [, d = '0', h = '0', min = '0', sec = '0'] = m;
  return Number(d) * 86400 + Number(h) * 3600 + Number(min) * 60 + Number(sec);
};
