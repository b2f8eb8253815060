/**
 * The host-to-chip command channel of one Device (PROTOCOL 3-5): host seqs,
 * ACK matching by seq, data answers after their ACK, retries.
 *
 * - commands carry a host seq (u32, wrapping: PROTOCOL 3) and wait for the
 *   ACK with that seq, within a bounded wait (ack-wait.ts);
 * - only idempotent commands are retried after a timeout, each try with a
 *   fresh seq; START, MEASURE_COUNTS, RESET, SAVE_CALIBRATION never are;
 * - a non-OK ACK is a DeviceError naming command and status (PROTOCOL 4 ACK);
 * - INFO and STATUS answers go to the command whose ACK came first.
 */
import { DeviceError, InputError } from '../errors.ts';
import { encodeFrame } from '../protocol/encode.ts';
import { FrameError } from '../protocol/errors.ts';
import {
  AckStatus,
  FRAME_SIZE,
  MAX_SETTINGS_PER_FRAME,
  FrameType,
  type AckFrame,
  type HostFrame,
  type InfoFrame,
  type StatusFrame,
} from '../protocol/types.ts';
import { ackWait } from './ack-wait.ts';

const ACK_STATUS_NAMES = Object.fromEntries(Object.entries(AckStatus).map(([k, v]) => [v, k])) as Record<
  number,
  string
>;

/** Commands safe to send twice (PROTOCOL 5: absolute values, queries, STOP which is a no-op in IDLE). */
const IDEMPOTENT = new Set<HostFrame['kind']>([
  'GET_INFO',
  'GET_STATUS',
  'SET_ANGLES',
  'SET_WINDOW',
  'SET_BIAS',
  'SET_PUMP',
  'SET_STATUS_INTERVAL',
  'SET_DELAY',
  'STOP',
]);

type Distribute<T> = T extends HostFrame ? Omit<T, 'seq' | 'flags'> : never;
export type HostCommand = Distribute<HostFrame>;

interface PendingCommand {
  kind: HostFrame['kind'];
  type: number;
  resolve: (ack: AckFrame) => void;
  reject: (e: unknown) => void;
}
interface AnswerWaiter<F> {
  resolve: (f: F) => void;
  reject: (e: unknown) => void;
}

/** What the channel needs from its device. */
export interface ChannelLink {
  write(bytes: Buffer): Promise<void>;
  /** Throws when the device is closed or disconnected. */
  failIfClosed(): void;
  /** Valid frames received so far (an ACK can queue behind them). */
  linkFrames(): number;
  /** A command waits: the link must flow whatever the run's back-pressure says. */
  setLinkNeeded(needed: boolean): void;
  /** A command got no answer at all (the link may be dead). */
  onNoAnswer(): void;
  /** A retry is sent. */
  onRetry(): void;
}

/** A non-OK ACK as the DeviceError the caller sees (PROTOCOL 4 ACK). */
export function refusal(kind: string, ack: AckFrame): DeviceError {
  const status = ACK_STATUS_NAMES[ack.status] ?? `status ${ack.status}`;
  // PROTOCOL 4 ACK: for BAD_ARGUMENT, detail is the payload offset of the bad field.
  const where = ack.status === AckStatus.BAD_ARGUMENT ? ` (payload offset ${ack.detail})` : '';
  return new DeviceError('COMMAND_REFUSED', `${kind} refused by the device: ${status}${where}`, {
    detail: { command: kind, status, ackStatus: ack.status, ackDetail: ack.detail },
  });
}

/** An ACK as the channel saw it: for nothing pending, of the wrong type, or for a command (OK or not). */
export type AckOutcome = { matched: false } | { matched: true; kind: HostFrame['kind']; ok: boolean };

export class CommandChannel {
  private hostSeq = 0;
  private readonly pending = new Map<number, PendingCommand>();
  private readonly infoWaiters: AnswerWaiter<InfoFrame>[] = [];
  private readonly statusWaiters: AnswerWaiter<StatusFrame>[] = [];
  /** Commands whose ACK brings a data answer: seq -> the answer's kind and waiter. */
  private readonly answerAfterAck = new Map<
    number,
    { kind: 'INFO' | 'STATUS'; waiter: AnswerWaiter<InfoFrame | StatusFrame> }
  >();

  constructor(
    private readonly link: ChannelLink,
    private readonly ackTimeoutMs: number,
    readonly retries: number,
  ) {}

  /** Whether a command waits for its ACK. */
  get busy(): boolean {
    return this.pending.size > 0;
  }

  nextSeq(): number {
    const seq = this.hostSeq;
    this.hostSeq = (this.hostSeq + 1) >>> 0; // PROTOCOL 3: host seq u32, wrapping
    return seq;
  }

  /** Tests only: where the host seq stands. */
  set seq(value: number) {
    this.hostSeq = value >>> 0;
  }

  /**
   * Sends a command and waits for its ACK (and its data answer, when one
   * follows). Idempotent commands are retried after a timeout with a fresh seq.
   */
  async command(
    cmd: HostCommand,
    answer?: 'INFO' | 'STATUS',
    maxTries = Infinity,
  ): Promise<AckFrame | InfoFrame | StatusFrame> {
    const tries = Math.min(maxTries, IDEMPOTENT.has(cmd.kind) ? this.retries + 1 : 1);
    let lastError: unknown;
    for (let attempt = 0; attempt < tries; attempt++) {
      this.link.failIfClosed();
      if (attempt > 0) this.link.onRetry();
      try {
        return await this.commandOnce(cmd, answer);
      } catch (e) {
        lastError = e;
        if (!(e instanceof DeviceError && e.code === 'NO_ANSWER')) throw e;
        this.link.onNoAnswer();
      }
    }
    throw lastError;
  }

  private async commandOnce(cmd: HostCommand, answer?: 'INFO' | 'STATUS'): Promise<AckFrame | InfoFrame | StatusFrame> {
    const seq = this.nextSeq();
    const frame = { ...cmd, seq, flags: 0 } as HostFrame;
    // A command sent while a run is paused for back-pressure needs the link flowing to see its ACK.
    this.link.setLinkNeeded(true);
    const acked = this.expectAck(seq, cmd.kind);
    let answerWaiter: AnswerWaiter<InfoFrame | StatusFrame> | undefined;
    const answered = answer
      ? new Promise<InfoFrame | StatusFrame>((resolve, reject) => {
          answerWaiter = { resolve, reject };
          this.answerAfterAck.set(seq, { kind: answer, waiter: answerWaiter });
        })
      : undefined;
    answered?.catch(() => undefined);
    // PROTOCOL 4 ACK: within 50 ms; the bounded wait (ack-wait.ts) is extended while frames queued ahead of the
    // ACK keep arriving, except for START (an idle chip has nothing queued).
    const wait = (what: string) =>
      ackWait({
        what: `${cmd.kind} got no ${what}`,
        timeoutMs: this.ackTimeoutMs,
        linkFrames: this.link.linkFrames,
        extendWhileBusy: cmd.kind !== 'START',
      });
    let timer = wait('ACK');
    try {
      // The timeout covers the write too: a write stuck on a full PTY or a vanished port must not hang us,
      // and a disconnect (acked rejects) wins over a write that never completes.
      const written = this.link.write(this.encode(frame));
      written.catch(() => undefined);
      const [, ack] = await Promise.race([Promise.all([written, acked]), timer.expired]);
      timer.cancel();
      if (ack.status !== AckStatus.OK) throw refusal(cmd.kind, ack);
      if (!answered) return ack;
      timer = wait(answer!);
      return await Promise.race([answered, timer.expired]);
    } finally {
      timer.cancel();
      this.pending.delete(seq);
      this.answerAfterAck.delete(seq);
      if (answerWaiter) this.removeAnswerWaiter(answerWaiter);
      this.link.setLinkNeeded(this.pending.size > 0);
    }
  }

  /** The ACK of host frame `seq`, once it comes (rejected by failAll or a wrong type). */
  expectAck(seq: number, kind: HostFrame['kind']): Promise<AckFrame> {
    const acked = new Promise<AckFrame>((resolve, reject) => {
      this.pending.set(seq, { kind, type: FrameType[kind], resolve, reject });
    });
    acked.catch(() => undefined);
    return acked;
  }

  /** Forgets a command's ACK (a wait given up). */
  forget(seq: number): void {
    this.pending.delete(seq);
  }

  /** A value the protocol cannot carry (e.g. bias 45000 mV) is the caller's bad input, caught before the wire. */
  encode(frame: HostFrame, out?: Buffer, offset = 0): Buffer {
    try {
      return encodeFrame(frame, out, offset);
    } catch (e) {
      if (e instanceof FrameError) throw new InputError('BAD_ARGUMENT', `${frame.kind}: ${e.message}`, { cause: e });
      throw e;
    }
  }

  /**
   * PROTOCOL 5 SETTINGS: per-trial settings, (x << 1) | y each, as frames of at most 192 (each with the next host
   * seq), encoded back to back into one buffer: one write, no buffer per frame.
   */
  encodeSettings(settings: Uint8Array): Buffer {
    const frames = Math.ceil(settings.length / MAX_SETTINGS_PER_FRAME);
    const out = Buffer.allocUnsafe(frames * FRAME_SIZE);
    for (let f = 0; f < frames; f++) {
      const part = settings.subarray(f * MAX_SETTINGS_PER_FRAME, (f + 1) * MAX_SETTINGS_PER_FRAME);
      const frame = { kind: 'SETTINGS', seq: this.nextSeq(), flags: 0, count: part.length, settings: part } as const;
      this.encode(frame, out, f * FRAME_SIZE);
    }
    return out;
  }

  private removeAnswerWaiter(w: AnswerWaiter<InfoFrame | StatusFrame>): void {
    for (const list of [this.infoWaiters, this.statusWaiters] as AnswerWaiter<InfoFrame | StatusFrame>[][]) {
      const i = list.indexOf(w);
      if (i >= 0) list.splice(i, 1);
    }
  }

  /** An ACK from the chip: completes the command with that seq. */
  ack(ack: AckFrame): AckOutcome {
    const p = this.pending.get(ack.ackSeq);
    if (!p) return { matched: false };
    if (ack.ackType !== p.type) {
      p.reject(
        new DeviceError(
          'PROTOCOL_VIOLATION',
          `ACK for seq ${ack.ackSeq} names type 0x${ack.ackType.toString(16)}, not ${p.kind}`,
        ),
      );
      return { matched: true, kind: p.kind, ok: false };
    }
    const ok = ack.status === AckStatus.OK;
    if (ok) {
      // PROTOCOL 4 ACK: data answers follow their ACK; register the waiter before the next frame is read.
      const answer = this.answerAfterAck.get(ack.ackSeq);
      if (answer?.kind === 'INFO') this.infoWaiters.push(answer.waiter as AnswerWaiter<InfoFrame>);
      if (answer?.kind === 'STATUS') this.statusWaiters.push(answer.waiter as AnswerWaiter<StatusFrame>);
    }
    p.resolve(ack);
    return { matched: true, kind: p.kind, ok };
  }

  info(frame: InfoFrame): void {
    this.infoWaiters.shift()?.resolve(frame);
  }

  status(frame: StatusFrame): void {
    this.statusWaiters.shift()?.resolve(frame);
  }

  /** Every waiting command gets `error`. */
  failAll(error: unknown): void {
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    for (const w of this.infoWaiters.splice(0)) w.reject(error);
    for (const w of this.statusWaiters.splice(0)) w.reject(error);
  }
}
