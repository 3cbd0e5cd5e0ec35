import { describe, expect, it } from 'vitest';
import { formatAge, formatDetails, formatTime, relativeTime, renderPairs, renderTable, sanitizeCell } from './format.ts';

const now = new Date('2026-11-22T18:00:00.000Z');

describe('renderTable', () => {
  const columns = [
    { header: 'site', value: (r: { code: string; name: string | null }) => r.code },
    { header: 'name', value: (r: { code: string; name: string | null }) => r.name },
  ];

  it('aligns columns under upper-case headers without trailing spaces', () => {
    const out = renderTable(columns, [
      { code: 'ACME-PHX', name: 'Acme Phoenix' },
      { code: 'B2', name: 'Bee' },
    ]);
    expect(out).toBe('SITE      NAME\nACME-PHX  Acme Phoenix\nB2        Bee\n');
  });

  it('shows missing values as a dash', () => {
    expect(renderTable(columns, [{ code: 'X1', name: null }])).toBe('SITE  NAME\nX1    -\n');
  });

  it('cuts long cells to the column maximum', () => {
    const out = renderTable([{ header: 'note', value: (r: string) => r, max: 8 }], ['abcdefghijkl']);
    expect(out).toBe('NOTE\nabcdefg…\n');
  });

  it('neutralises terminal control sequences coming from the api', () => {
    const out = renderTable([{ header: 'host', value: (r: string) => r }], ['evil\x1b[2J\nhost']);
    expect(out).toBe('HOST\nevil?[2J?host\n');
    expect(sanitizeCell('caf\u00e9')).toBe('caf?');
  });
});

describe('times', () => {
  it('gives the largest whole unit, past and future', () => {
    expect(relativeTime(new Date('2026-11-22T17:55:00Z'), now)).toBe('5m ago');
    expect(relativeTime(new Date('2026-11-22T18:10:00Z'), now)).toBe('in 10m');
    expect(relativeTime(new Date('2026-11-20T17:00:00Z'), now)).toBe('2d ago');
    expect(relativeTime(new Date('2026-11-22T17:59:58Z'), now)).toBe('just now');
    expect(relativeTime(new Date('2026-11-22T17:59:30Z'), now)).toBe('30s ago');
  });

  it('prints RFC 3339 UTC to the second with the relative hint', () => {
    expect(formatTime('2026-11-22T17:55:00.123Z', now)).toBe('2026-11-22T17:55:00Z (5m ago)');
    expect(formatTime(null, now)).toBeNull();
    expect(formatAge('2026-11-22T15:00:00Z', now)).toBe('3h');
  });
});

describe('renderPairs and details', () => {
  it('aligns labels', () => {
    expect(renderPairs([['site', 'ACME'], ['created by', null]])).toBe('site:        ACME\ncreated by:  -\n');
  });

  it('flattens audit details, quoting anything that is not a plain word and dropping the request id', () => {
    expect(formatDetails({ version: 2, fingerprint: 'v2 (AB12)', request_id: 'r1', note: null, who: 'bob' })).toBe(
      'version=2 fingerprint="v2 (AB12)" who=bob',
    );
    expect(formatDetails(null)).toBe('');
  });
});
