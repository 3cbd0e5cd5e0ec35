/** A fake `/` holding the files the agents read a machine's identity from (issue 22). */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

export interface FakeMachine {
  productUuid?: string;
  boardSerial?: string;
  /** Block devices by name (`sda`, `nvme0n1`, `loop0`); `serialAt` picks device/serial (default) or serial (virtio). */
  disks?: Record<string, { serial?: string; serialAt?: 'device/serial' | 'serial'; removable?: boolean }>;
  machineId?: string;
}

/**
 * Writes `machine` under a new temporary directory and returns its path, for
 * AIRLOCK_MACHINE_ROOT / `deriveMachineUid(root)`. The caller removes it.
 *
 * @example
 *   const root = await fakeMachineRoot({ productUuid: '4C4C4544-…', machineId: 'c0ffee…' })
 */
export const fakeMachineRoot = async (machine: FakeMachine): Promise<string> => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'airlock-machine-'));
  await writeMachine(root, machine);
  return root;
};

/** Replaces what `root` holds with `machine` (a re-image, a new board). */
export const writeMachine = async (root: string, machine: FakeMachine): Promise<void> => {
  await fs.rm(path.join(root, 'sys'), { recursive: true, force: true });
  await fs.rm(path.join(root, 'etc'), { recursive: true, force: true });
  const put = async (rel: string, content: string) => {
    await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await fs.writeFile(path.join(root, rel), content);
  };
  if (machine.productUuid !== undefined) await put('sys/class/dmi/id/product_uuid', `${machine.productUuid}\n`);
  if (machine.boardSerial !== undefined) await put('sys/class/dmi/id/board_serial', `${machine.boardSerial}\n`);
  for (const [name, disk] of Object.entries(machine.disks ?? {})) {
    await put(`sys/block/${name}/removable`, disk.removable ? '1\n' : '0\n');
    if (disk.serial !== undefined) await put(`sys/block/${name}/${disk.serialAt ?? 'device/serial'}`, `${disk.serial}\n`);
  }
  if (machine.machineId !== undefined) await put('etc/machine-id', `${machine.machineId}\n`);
};
