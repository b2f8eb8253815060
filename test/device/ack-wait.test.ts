/**
 * The ACK wait tells this process's stalls from the device's silence (PROTOCOL 4 ACK: an answer within 50 ms):
 * a check that runs late because the event loop was blocked (a block hashed on this thread) gives the link
 * another period instead of failing a command whose ACK is already waiting to be read.
 */
import { describe, expect, it } from 'vitest';
import { ACK_WAIT_CAP_FACTOR, ackWait } from '../../src/device/ack-wait.ts';
import { DeviceError } from '../../src/errors.ts';

function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: nothing else runs, as during a synchronous FFT product
  }
}

describe('ackWait', () => {
  it('a silent link fails after its timeout, naming the real time waited', async () => {
    const started = performance.now();
    const w = ackWait({ what: 'STOP got no ACK', timeoutMs: 40, linkFrames: () => 0, extendWhileBusy: false });
    const e = await w.expired.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DeviceError);
    const waited = (e as DeviceError).detail as { waitedMs: number };
    expect(waited.waitedMs).toBeGreaterThanOrEqual(39);
    expect((e as Error).message).toBe(`STOP got no ACK within ${waited.waitedMs} ms`);
    expect(performance.now() - started).toBeLessThan(40 * ACK_WAIT_CAP_FACTOR + 1000);
  });

  it('a check delayed by a blocked event loop is not the device silence: the answer read after it still wins', async () => {
    // The default ACK timeout (500 ms) and a hash of about 650 ms: the check runs 150 ms late.
    const w = ackWait({ what: 'STOP got no ACK', timeoutMs: 500, linkFrames: () => 0, extendWhileBusy: false });
    let failed = false;
    w.expired.catch(() => {
      failed = true;
    });
    blockEventLoop(650);
    await new Promise((r) => setTimeout(r, 0));
    await new Promise((r) => setImmediate(r));
    expect(failed).toBe(false); // the late check re-armed instead of failing
    w.cancel(); // the ACK came (read in the poll phase after the stall)
  });
});
