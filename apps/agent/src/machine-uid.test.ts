import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deriveMachineUid } from './machine-uid.ts';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'airlock-agent-uid-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const source = async (name: string, content: string | null) => {
  const file = path.join(tmp, name);
  if (content !== null) await fs.writeFile(file, content);
  return { label: name, path: file };
};

describe('deriveMachineUid', () => {
  it('hashes both ids with a domain prefix; the raw ids do not appear', async () => {
    const machineId = 'c0ffee0123456789abcdef0123456789';
    const uuid = '4C4C4544-0042-3510-8052-B4C04F384D32';
    const derived = await deriveMachineUid([await source('machine-id', `${machineId}\n`), await source('product_uuid', `${uuid}\n`)]);
    const expected = createHash('sha256')
      .update(`airlock-machine-uid-v1\nmachine-id=${machineId}\nproduct_uuid=${uuid.toLowerCase()}`)
      .digest('hex');
    expect(derived).toEqual({ machineUid: expected, used: ['machine-id', 'product_uuid'], skipped: [] });
    expect(derived?.machineUid).not.toContain(machineId);
    expect(derived?.machineUid).toMatch(/^[A-Za-z0-9._:-]{8,128}$/);
  });

  it('is stable across runs and differs between machines', async () => {
    const a = [await source('machine-id', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')];
    const first = await deriveMachineUid(a);
    const again = await deriveMachineUid(a);
    const other = await deriveMachineUid([await source('machine-id-2', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb')]);
    expect(again?.machineUid).toBe(first?.machineUid);
    expect(other?.machineUid).not.toBe(first?.machineUid);
  });

  it('uses what is readable and says which sources were skipped', async () => {
    const derived = await deriveMachineUid([await source('machine-id', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'), await source('missing', null)]);
    expect(derived?.used).toEqual(['machine-id']);
    expect(derived?.skipped).toEqual([{ label: 'missing', reason: 'not present' }]);
  });

  it('ignores vendor placeholder uuids that would make machines collide', async () => {
    const derived = await deriveMachineUid([
      await source('machine-id', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'),
      await source('product_uuid', '03000200-0400-0500-0006-000700080009\n'),
    ]);
    expect(derived?.used).toEqual(['machine-id']);
  });

  it('returns null when nothing is readable', async () => {
    expect(await deriveMachineUid([await source('missing', null), await source('empty', '\n')])).toBeNull();
  });
});
