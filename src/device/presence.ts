/**
 * Watches that a port's device node still exists. A USB serial port that is
 * unplugged loses its node (/dev/ttyACM0, the /dev/epq1-<serial> link); a
 * PTY served by socat loses its link when socat ends. The read side usually
 * sees a hang-up first (hangup.ts); this catches the cases where it does not
 * (an fd that stays readable but silent), well within a second.
 *
 * Only a path that exists when the port opens is watched: an in-process
 * binding's path (the simulator's, a mock's) is no file and is left alone.
 */
import { existsSync } from 'node:fs';

/** How often the node is checked: a vanished node is seen within this, far inside the 1 s a disconnect may take. */
export const PRESENCE_CHECK_MS = 250;

/** Starts watching `path`; returns the function that stops it. `onGone` is called at most once. */
export function watchPresence(
  path: string,
  onGone: () => void,
  {
    intervalMs = PRESENCE_CHECK_MS,
    exists = existsSync,
  }: { intervalMs?: number; exists?: (p: string) => boolean } = {},
): () => void {
  if (!exists(path)) return () => undefined;
  const timer = setInterval(() => {
    if (exists(path)) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  timer.unref?.();
  return () => clearInterval(timer);
}
