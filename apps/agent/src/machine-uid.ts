import * as fs from 'node:fs/promises';
import { sha256Hex } from '@airlock/crypto';

export interface MachineIdSource {
  /** Shown to the user: which source contributed. */
  label: string;
  path: string;
}

const DEFAULT_MACHINE_ID_SOURCES: readonly MachineIdSource[] = [
  { label: '/etc/machine-id', path: '/etc/machine-id' },
  { label: '/sys/class/dmi/id/product_uuid', path: '/sys/class/dmi/id/product_uuid' },
];

export interface DerivedMachineUid {
  machineUid: string;
  used: string[];
  skipped: { label: string; reason: string }[];
}

/** Placeholder values that vendors ship on many machines; hashing them would make unrelated machines collide. */
const JUNK = new Set([
  'uninitialized',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '03000200-0400-0500-0006-000700080009',
  '00000000000000000000000000000000',
]);

/** Domain-separated so the uid cannot be matched against a plain hash of the machine-id elsewhere. */
const DOMAIN = 'airlock-machine-uid-v1';

/**
 * A stable machine uid for zero-touch enrollment. The raw ids are hashed
 * locally (they are unique hardware/OS identifiers some vendors treat as
 * sensitive), so only the digest ever leaves the machine.
 *
 * Note: product_uuid is usually readable by root only, so derive it as the
 * same user every time or the value changes.
 *
 * @example
 *   const { machineUid, used } = await deriveMachineUid()
 *   // machineUid: 64 hex chars; used: ['/etc/machine-id']
 */
export const deriveMachineUid = async (
  sources: readonly MachineIdSource[] = DEFAULT_MACHINE_ID_SOURCES,
): Promise<DerivedMachineUid | null> => {
  const parts: string[] = [];
  const used: string[] = [];
  const skipped: { label: string; reason: string }[] = [];
  for (const source of sources) {
    let value: string;
    try {
      value = (await fs.readFile(source.path, 'utf8')).trim().toLowerCase();
    } catch (error) {
      const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : 'unreadable';
      skipped.push({ label: source.label, reason: code === 'EACCES' ? 'not readable (root only?)' : code === 'ENOENT' ? 'not present' : code });
      continue;
    }
    if (value === '' || JUNK.has(value)) {
      skipped.push({ label: source.label, reason: 'empty or a vendor placeholder' });
      continue;
    }
    parts.push(`${source.label}=${value}`);
    used.push(source.label);
  }
  if (parts.length === 0) return null;
  const machineUid = sha256Hex(Buffer.from(`${DOMAIN}\n${parts.join('\n')}`, 'utf8'));
  return { machineUid, used, skipped };
};
