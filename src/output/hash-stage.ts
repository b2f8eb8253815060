/**
 * Stage 2 of the pipeline (pipeline.ts): each certified block hashed to its m bits by the run's BlockHasher.
 *
 * With the hasher on its worker thread the stage runs on both cores: block k is hashed on the worker while block
 * k + 1 is decoded and certified here. The queue holds one block: block k + 1's input is sent to the worker only
 * after block k's bytes are handed on, and the block after it is pulled only then, so at most one block is being
 * hashed and one certified, whatever the run's length. Order is unchanged (a refused block waits behind the hash
 * before it), and nothing is written here: the chain stage writes each certificate before its bytes, as before.
 * A hash that fails ends the stage with its error; a certify error is raised in order, after the hash before it.
 * Once block k + 1 is certified, this thread helps the worker with block k's hash (BlockHasher.assist).
 */
import type { BlockResult, CertificateDraft, RefusedBlock } from '../certify/index.ts';
import type { BlockHasher } from '../extract/index.ts';

/** A certified block after the hash stage: its output bytes and its certificate draft. */
export interface ExtractedBlock {
  ok: true;
  draft: CertificateDraft;
  /** Exactly draft.outputBits / 8 bytes. */
  bytes: Uint8Array;
}

/** A certified block's sizes against the run's plan. */
function checkBlock(block: BlockResult & { ok: true }, hasher: BlockHasher): void {
  if (block.inputBits > hasher.n || block.outputBits > hasher.mMax) {
    // A mismatch here is a bug between the two stages, never a reason to hash with a wrong seed.
    throw new Error(
      `extract: block ${block.draft.blockIndex} has n = ${block.inputBits}, m = ${block.outputBits}; the run's plan is n <= ${hasher.n}, m <= ${hasher.mMax}`,
    );
  }
}

/**
 * Each certified block hashed to its m bits. `onCertified` hears each block's m before its hash, so a consumer that
 * has enough can stop the run then, not after the hash.
 */
export async function* hashStage(
  blocks: AsyncIterable<BlockResult>,
  hasher: BlockHasher,
  onCertified?: (outputBits: number) => void,
): AsyncGenerator<ExtractedBlock | RefusedBlock> {
  if (hasher.offThread) {
    yield* pipelined(blocks, hasher, onCertified);
    return;
  }
  for await (const block of blocks) {
    if (!block.ok) {
      yield block;
      continue;
    }
    checkBlock(block, hasher);
    onCertified?.(block.outputBits);
    yield { ok: true, draft: block.draft, bytes: await hasher.hash(block.input, block.outputBits, block.inputBits) };
  }
}

/** The two-core form of hashStage (file comment). */
async function* pipelined(
  blocks: AsyncIterable<BlockResult>,
  hasher: BlockHasher,
  onCertified?: (outputBits: number) => void,
): AsyncGenerator<ExtractedBlock | RefusedBlock> {
  const it = blocks[Symbol.asyncIterator]();
  // the certify stage's next result, asked for while the worker hashes the block before it
  let ahead: Promise<IteratorResult<BlockResult>> | undefined;
  let finished = false;
  try {
    for (;;) {
      const r = await (ahead ?? it.next());
      ahead = undefined;
      if (r.done) {
        finished = true;
        return;
      }
      const block = r.value;
      if (!block.ok) {
        yield block;
        continue;
      }
      checkBlock(block, hasher);
      onCertified?.(block.outputBits);
      const bytes = hasher.hash(block.input, block.outputBits, block.inputBits); // the worker has its own copy now
      // certify the next block on this thread while the worker hashes this one; once that is done this thread would
      // only wait for the hash: it helps with it (one range at a time, between event-loop turns)
      ahead = it.next();
      ahead.then(
        () => hasher.assist(bytes),
        () => undefined, // raised in order by the await above, after this block
      );
      yield { ok: true, draft: block.draft, bytes: await bytes };
    }
  } finally {
    if (!finished) {
      // An early end (the consumer stopped, or a hash failed) while the certify stage may still be working on the
      // block asked for ahead: it is closed once that step settles, not waited for here (a live run's events end
      // only when the run is stopped, which the consumer does after this stage has ended).
      const close = (): unknown => it.return?.(undefined)?.catch(() => undefined);
      if (ahead === undefined) await it.return?.(undefined);
      else void ahead.then(close, close);
    }
  }
}
