import { describe, expect, it } from 'vitest';
import { CliError } from './context.ts';
import { resolveIdPrefix } from './id-prefix.ts';

const ids = [
  { id: '3f2a9c10-1111-4111-8111-111111111111' },
  { id: '3f2a9c11-2222-4222-8222-222222222222' },
  { id: 'a0b1c2d3-3333-4333-8333-333333333333' },
];
const list = async () => ids;

describe('resolveIdPrefix', () => {
  it('accepts a unique prefix, in either case, and returns the full id', async () => {
    expect(await resolveIdPrefix('a0b1c2d3', 'enrollment', list)).toBe(ids[2]?.id);
    expect(await resolveIdPrefix('3F2A9C10', 'enrollment', list)).toBe(ids[0]?.id);
  });

  it('refuses an ambiguous prefix, naming the candidates', async () => {
    await expect(resolveIdPrefix('3f2a9c1', 'enrollment', list)).rejects.toThrow(
      new CliError(`3f2a9c1 is ambiguous: 2 enrollments have ids starting with it (${ids[0]?.id}, ${ids[1]?.id}); type more of the id`),
    );
  });

  it('says when no id starts with the prefix', async () => {
    await expect(resolveIdPrefix('ffff', 'agent', list)).rejects.toThrow('no agent has an id starting with ffff');
  });

  it('passes a full id or a non-prefix through without listing, so the api answers for it', async () => {
    const never = async (): Promise<{ id: string }[]> => {
      throw new Error('listed');
    };
    expect(await resolveIdPrefix('a0b1c2d3-3333-4333-8333-333333333333', 'enrollment', never)).toBe('a0b1c2d3-3333-4333-8333-333333333333');
    expect(await resolveIdPrefix('abc', 'enrollment', never)).toBe('abc');
    expect(await resolveIdPrefix('not-an-id', 'enrollment', never)).toBe('not-an-id');
  });
});
