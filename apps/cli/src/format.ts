/** Plain-text output: aligned tables, times with a relative hint, key/value blocks. */

export interface Column<R> {
  header: string;
  value: (row: R) => string | null | undefined;
  /** Cut longer cells to this many characters (with an ellipsis). */
  max?: number;
}

/**
 * Cells come from the api and, through it, from agents in the field (host
 * names, labels, notes). Control characters could rewrite the operator's
 * terminal, so anything outside printable ASCII is shown as '?'.
 */
export const sanitizeCell = (text: string): string => text.replace(/[^\x20-\x7e]/g, '?');

const truncate = (text: string, max: number | undefined): string =>
  max !== undefined && text.length > max ? `${text.slice(0, Math.max(1, max - 1))}…` : text;

/**
 * Renders rows as columns separated by two spaces, headers upper-case, the
 * last column not padded (no trailing spaces). Empty values show as '-'.
 *
 * @example
 *   renderTable([{ header: 'site', value: (r) => r.code }], [{ code: 'ACME' }])
 *   // 'SITE\nACME\n'
 */
export const renderTable = <R>(columns: readonly Column<R>[], rows: readonly R[]): string => {
  const cells = rows.map((row) =>
    columns.map((c) => {
      const v = c.value(row);
      return v === null || v === undefined || v === '' ? '-' : truncate(sanitizeCell(v), c.max);
    }),
  );
  const headers = columns.map((c) => c.header.toUpperCase());
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (parts: readonly string[]) =>
    parts
      .map((p, i) => (i === parts.length - 1 ? p : p.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n') + '\n';
};

/** Two aligned columns of label and value, for a single object. */
export const renderPairs = (pairs: readonly (readonly [string, string | null | undefined])[]): string => {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 1)}  ${v === null || v === undefined || v === '' ? '-' : sanitizeCell(v)}`).join('\n') + '\n';
};

/** "5m ago", "in 10m", "just now": the largest whole unit, like most CLIs. */
export const relativeTime = (then: Date, now: Date): string => {
  const deltaS = Math.round((then.getTime() - now.getTime()) / 1000);
  const abs = Math.abs(deltaS);
  if (abs < 5) return 'just now';
  const units: [number, string][] = [
    [86400, 'd'],
    [3600, 'h'],
    [60, 'm'],
    [1, 's'],
  ];
  const [size, unit] = units.find(([s]) => abs >= s) ?? [1, 's'];
  const amount = `${Math.floor(abs / size)}${unit}`;
  return deltaS < 0 ? `${amount} ago` : `in ${amount}`;
};

/** RFC 3339 UTC to the second, then the relative hint: `2026-11-22T17:50:00Z (5m ago)`. */
export const formatTime = (iso: string | null | undefined, now: Date): string | null => {
  if (!iso) return null;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().replace(/\.\d{3}Z$/, 'Z')} (${relativeTime(d, now)})`;
};

/** Only the relative part, for narrow "age" columns. */
export const formatAge = (iso: string | null | undefined, now: Date): string | null => {
  if (!iso) return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : relativeTime(d, now).replace(/ ago$/, '');
};

/** Audit details as `k=v k=v`, values JSON-encoded unless they are plain words. */
export const formatDetails = (details: unknown): string => {
  if (typeof details !== 'object' || details === null) return '';
  return Object.entries(details as Record<string, unknown>)
    .filter(([k, v]) => v !== null && v !== undefined && k !== 'request_id')
    .map(([k, v]) => `${k}=${typeof v === 'string' && /^[\w.:@/-]*$/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
};

/** Pretty JSON for `--json`, with a final newline. */
export const renderJson = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;
