/**
 * The bounded wait for a command's ACK (or its data answer), PROTOCOL 4 ACK:
 * the chip answers every command within 50 ms of reading it.
 *
 * - A silent link fails after `timeoutMs`.
 * - An ACK can queue behind data the chip sends first (STOP flushes its
 *   TRIALS before its ACK): while valid frames keep arriving the wait is
 *   extended, up to `capFactor` timeouts. Not for START: an idle chip has
 *   nothing queued, so frames during START's wait are no excuse (they are the
 *   run START started, its ACK lost, or an earlier run still going).
 * - A check that fires late means this process was stalled (a loaded
 *   machine) and has not read the port since: that is not the device's
 *   silence, so it gets another period too (within the same cap).
 *
 * The error states the real time waited.
 */
import { DeviceError } from '../errors.ts';

/** How many ACK timeouts a command may wait while the link is busy with other frames (or this process stalls). */
export const ACK_WAIT_CAP_FACTOR = 20;
/** Lateness of a timer check that counts as a stall of this process rather than the device's silence. */
const STALL_SLACK_MS = 50;

export interface AckWait {
  /** Rejects with a NO_ANSWER DeviceError when the wait is over. */
  expired: Promise<never>;
  cancel(): void;
}

export function ackWait({
  what,
  timeoutMs,
  linkFrames,
  extendWhileBusy,
}: {
  /** e.g. "STOP got no ACK". */
  what: string;
  timeoutMs: number;
  /** A counter of valid frames received, read at each check. */
  linkFrames: () => number;
  extendWhileBusy: boolean;
}): AckWait {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    const startedMs = performance.now();
    let armedMs = startedMs;
    let seen = linkFrames();
    const check = (): void => {
      const nowMs = performance.now();
      const busy = extendWhileBusy && linkFrames() !== seen;
      // Due at armedMs + timeoutMs: a check that runs late by more than the slack means the event loop was
      // blocked (a block hashed on this thread, a loaded machine), and the port has not been read since.
      const stalled = nowMs - armedMs > timeoutMs + STALL_SLACK_MS;
      seen = linkFrames();
      if ((busy || stalled) && nowMs - startedMs < timeoutMs * ACK_WAIT_CAP_FACTOR) {
        armedMs = nowMs;
        timer = setTimeout(check, timeoutMs);
        return;
      }
      const waitedMs = Math.round(nowMs - startedMs);
      reject(new DeviceError('NO_ANSWER', `${what} within ${waitedMs} ms`, { detail: { waitedMs } }));
    };
    timer = setTimeout(check, timeoutMs);
  });
  expired.catch(() => undefined);
  return { expired, cancel: () => clearTimeout(timer) };
}

/** A plain deadline: rejects with `error()` after `ms` (for waits that no link activity extends). */
export function deadline(ms: number, error: () => Error): AckWait {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
  });
  expired.catch(() => undefined);
  return { expired, cancel: () => clearTimeout(timer) };
}
