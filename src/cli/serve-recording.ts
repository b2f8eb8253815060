/**
 * `serve --record`: the service's chip runs (STOP when its pool is full,
 * START when it drained) on one recorded port, each followed by a `run-end`
 * event with the blocks the service took from it (src/record/run-events.ts),
 * and an end record that says how the session ended and what entered the
 * pool (src/record/ending.ts). The service stops taking blocks when its
 * pool fills, and the blocks the chip's trials certify after that are
 * dropped with the run: the replay needs the count to take the same blocks.
 */
import type { Device } from '../device/index.ts';
import { SessionLedger } from '../record/ending.ts';
import type { SessionRecorder } from '../record/session.ts';
import { certifiedBlocks, type BlockSourceOptions } from '../serve/source.ts';
import type { CertifiedChunk } from '../output/with-certificates.ts';

export interface ServeRecording {
  /** The service's block source (ServiceOptions.source), each run's end recorded. */
  source: (device: Device, opts: BlockSourceOptions) => AsyncGenerator<CertifiedChunk>;
  /** Closes the recording with its end record. */
  close(): void;
}

/** The recording side of serve: its block source and the end of its recording. */
export function serveRecording(recorder: SessionRecorder): ServeRecording {
  const writer = recorder.writer;
  const ledger = new SessionLedger();
  let bytes = 0;
  let failure: unknown;
  // serve runs until SIGINT or SIGTERM: the signal is the ending, unless production failed first.
  let interruptedBy: NodeJS.Signals | undefined;
  const onSignal = (s: NodeJS.Signals): void => {
    interruptedBy ??= s;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const source = async function* (device: Device, opts: BlockSourceOptions): AsyncGenerator<CertifiedChunk> {
    ledger.onRun();
    const run = ledger.runs;
    let blocks = 0;
    try {
      for await (const b of certifiedBlocks(device, opts)) {
        blocks++;
        ledger.onCertificate(b.line);
        bytes += b.bytes.length;
        yield b;
      }
    } catch (e) {
      failure ??= e;
      throw e;
    } finally {
      // After the run's STOP and its ACK (the stream's end): the event follows its run in the file.
      if (writer.isOpen) writer.runEvent({ event: 'run-end', run, blocks });
    }
  };
  return {
    source,
    close: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      recorder.close(ledger.end({ wanted: Number.POSITIVE_INFINITY, written: bytes, interruptedBy, error: failure }));
    },
  };
}
