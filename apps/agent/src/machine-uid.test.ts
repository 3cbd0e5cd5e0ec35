import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { fakeMachineRoot, writeMachine, type FakeMachine } from '@airlock/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { deriveMachineUid, machineRoot, normaliseSignal } from './machine-uid.ts';

const roots: string[] = [];
afterEach(async () => {
  await Promise.all(roots.splice(0).map((r) => fs.rm(r, { recursive: true, force: true })));
});
const machine = async (m: FakeMachine) => {
  const root = await fakeMachineRoot(m);
  roots.push(root);
  return root;
};

const UUID = '4C4C4544-0042-3510-8052-B4C04F384D32';
const BOARD = '.7XK3JQ2.CN1296';
const DISK = 'S4EWNX0R123456 ';
const hw: FakeMachine = { productUuid: UUID, boardSerial: BOARD, disks: { nvme0n1: { serial: DISK } }, machineId: 'a'.repeat(32) };

describe('deriveMachineUid', () => {
  it('hashes the hardware signals under a domain prefix, documented byte for byte; no raw value is returned', async () => {
    const derived = await deriveMachineUid(await machine(hw));
    const expected = createHash('sha256')
      .update(`airlock-machine-uid-v2\nproduct_uuid=${UUID.toLowerCase()}\nboard_serial=${BOARD.toLowerCase()}\ndisk_serial=s4ewnx0r123456`)
      .digest('hex');
    expect(derived).toEqual({
      machineUid: expected,
      used: ['product_uuid (/sys/class/dmi/id/product_uuid)', 'board_serial (/sys/class/dmi/id/board_serial)', 'disk_serial (/sys/block/nvme0n1/device/serial)'],
      skipped: [],
      fallback: false,
    });
    expect(JSON.stringify(derived)).not.toMatch(/4c4c4544|7xk3jq2|s4ewnx0r/i);
  });

  it('gives the same uid after a re-image: a fresh /etc/machine-id on the same hardware changes nothing', async () => {
    const root = await machine(hw);
    const before = await deriveMachineUid(root);
    await writeMachine(root, { ...hw, machineId: 'b'.repeat(32) });
    const after = await deriveMachineUid(root);
    expect(after?.machineUid).toBe(before?.machineUid);
    expect(after?.used.some((u) => u.startsWith('machine_id'))).toBe(false);
  });

  it('gives different uids to different boards, and to clones that differ only in their disk', async () => {
    const a = await deriveMachineUid(await machine(hw));
    const b = await deriveMachineUid(await machine({ ...hw, productUuid: '4C4C4544-0042-3510-8052-B4C04F384D33', boardSerial: '.8XK3JQ2.CN1296' }));
    const clone = await deriveMachineUid(await machine({ ...hw, disks: { nvme0n1: { serial: 'S4EWNX0R999999' } } }));
    expect(new Set([a?.machineUid, b?.machineUid, clone?.machineUid]).size).toBe(3);
  });

  it('falls back to /etc/machine-id only when no hardware signal is readable, and says so', async () => {
    const derived = await deriveMachineUid(await machine({ productUuid: 'Not Specified', boardSerial: 'To be filled by O.E.M.', machineId: 'c0ffee0123456789abcdef0123456789' }));
    expect(derived?.fallback).toBe(true);
    expect(derived?.used).toEqual(['machine_id (/etc/machine-id)']);
    expect(derived?.machineUid).toBe(createHash('sha256').update('airlock-machine-uid-v2\nmachine_id=c0ffee0123456789abcdef0123456789').digest('hex'));
    expect(derived?.skipped).toEqual([
      { label: 'product_uuid (/sys/class/dmi/id/product_uuid)', reason: 'a vendor placeholder' },
      { label: 'board_serial (/sys/class/dmi/id/board_serial)', reason: 'a vendor placeholder' },
      { label: 'disk_serial (/sys/block/*)', reason: 'no disk found' },
    ]);
  });

  it('skips virtual and removable block devices, and reads a virtio disk serial from serial', async () => {
    const derived = await deriveMachineUid(
      await machine({ disks: { loop0: { serial: 'LOOPSERIAL' }, sda: { serial: 'USBSTICK01', removable: true }, vda: { serial: 'VIRTIO-0001', serialAt: 'serial' } } }),
    );
    expect(derived?.used).toEqual(['disk_serial (/sys/block/vda/serial)']);
    expect(derived?.fallback).toBe(false);
  });

  it('returns null when nothing is readable', async () => {
    expect(await deriveMachineUid(await machine({ machineId: '' }))).toBeNull();
  });
});

describe('normaliseSignal', () => {
  it.each(['00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', 'Not Specified', 'To Be Filled By O.E.M.', 'Default string', '0123456789', 'N/A', '0', 'ab', 'System Serial Number'])(
    'refuses the placeholder %j',
    (raw) => expect(normaliseSignal(raw)).toEqual({ problem: 'a vendor placeholder' }),
  );

  it('removes whitespace, lowers ASCII case and refuses non-printable values', () => {
    expect(normaliseSignal(' AB CD\t12\r\n')).toEqual({ value: 'abcd12' });
    expect(normaliseSignal('abc\u0001def')).toEqual({ problem: 'not printable text' });
    expect(normaliseSignal('ÄBCDEF')).toEqual({ problem: 'not printable text' });
  });
});

describe('machineRoot', () => {
  it('is / unless AIRLOCK_MACHINE_ROOT says otherwise', () => {
    expect(machineRoot({})).toBe('/');
    expect(machineRoot({ AIRLOCK_MACHINE_ROOT: '/host' })).toBe('/host');
  });
});
