/**
 * One-line messages for what the serial port layer says: bindings-cpp's
 * errors ("Error: Permission denied, cannot open /dev/ttyACM0") with the
 * path named once, and a hint when the port may not be opened (EACCES):
 * which group owns it, or the udev rule that gives it to plugdev.
 */
import { statSync, readFileSync } from 'node:fs';

/** An error's message on one line, without a leading "Error:". */
export function portMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m
    .replace(/^Error:\s*/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Whether an open error is a permission refusal. */
export function isPermissionDenied(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EACCES' || code === 'EPERM' || /permission denied|EACCES/i.test(portMessage(e));
}

/** The name of the group `gid` in /etc/group (undefined when not found). */
export function groupName(gid: number, groupFile = '/etc/group'): string | undefined {
  try {
    for (const line of readFileSync(groupFile, 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name && Number(id) === gid) return name;
    }
  } catch {
    // no group database: no name
  }
  return undefined;
}

/** The hint for a port this user may not open: join the group that owns it, or install the udev rule. */
export function permissionHint(path: string, lookup: (gid: number) => string | undefined = groupName): string {
  let group: string | undefined;
  try {
    group = lookup(statSync(path).gid);
  } catch {
    group = undefined;
  }
  const join =
    group && group !== 'root'
      ? `join group ${group} (sudo usermod -aG ${group} $USER, then log in again)`
      : 'join the group that owns it (usually dialout)';
  return `${join}, or install the EPQ-1 udev rule (epqrng install-linux --write) that gives it to group plugdev`;
}

/** The one-line message for a port that cannot be opened. */
export function openFailureMessage(path: string, err: unknown): string {
  // bindings-cpp says "Error: No such file or directory, cannot open /dev/x": keep the cause, name the path once.
  const cause = portMessage(err).replace(/,?\s*cannot open .*$/, '') || 'failed';
  if (isPermissionDenied(err)) return `cannot open ${path}: ${cause}; ${permissionHint(path)}`;
  return `cannot open ${path}: ${cause}`;
}
