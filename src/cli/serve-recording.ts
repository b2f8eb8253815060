/**
 * `serve --record`: the service's chip runs (STOP when its pool is full,
 * START when it drained) on one recorded port, each followed by a `run-end`
 * event with the blocks the service took from it (src/record/run-events.ts).
 * The service stops taking blocks when its pool fills, and the blocks the
 * chip's trials certify after that are dropped with the run: the replay
 * needs the count to take exactly the same blocks.
 */
import type { Device } from '../device/index.ts';
import type { RecordingWriter } from '../record/writer.ts';
import { certifiedBlocks, type BlockSourceOptions, type CertifiedBlock } from '../serve/source.ts';

/** The service's block source (ServiceOptions.source), with each run's end recorded. */
export function recordedBlockSource(
  writer: RecordingWriter,
): (device: Device, opts: BlockSourceOptions) => AsyncGenerator<CertifiedBlock> {
  let runs = 0;
  return async function* (device, opts) {
    const run = ++runs;
    let blocks = 0;
    try {
      for await (const b of certifiedBlocks(device, opts)) {
        blocks++;
        yield b;
      }
    } finally {
      // After the run's STOP and its ACK (the stream's end): the event follows its run in the file.
      if (writer.isOpen) writer.runEvent({ event: 'run-end', run, blocks });
    }
  };
}
