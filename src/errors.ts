/**
 * Named error kinds shared by every stage. Each kind carries the CLI exit
 * code it maps to (issue 2: 0 ok, 1 certification refused, 2 usage or bad
 * input, 3 device error) and a one-line message meant for the user.
 *
 * Contract: `message` is one line, names the cause, and never includes a
 * stack trace; `code` is a stable machine-readable string.
 */

export const ExitCode = {
  OK: 0,
  CERTIFICATION_REFUSED: 1,
  USAGE: 2,
  DEVICE: 3,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export abstract class EpqError extends Error {
  abstract readonly exitCode: ExitCodeValue;
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bad command line: unknown option, invalid value. Exit 2. */
export class UsageError extends EpqError {
  readonly exitCode = ExitCode.USAGE;
  constructor(message: string, options?: { cause?: unknown }) {
    super('USAGE', message, options);
  }
}

/** Bad input from a file (recording, profile, seed, certificates). Exit 2. */
export class InputError extends EpqError {
  readonly exitCode = ExitCode.USAGE;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * Anything the device or its link did: not found, no answer, refused
 * command, fault, unplug, protocol violation. Exit 3.
 */
export class DeviceError extends EpqError {
  readonly exitCode = ExitCode.DEVICE;
  /** PROTOCOL-level detail for programs (e.g. the ACK status name). */
  readonly detail?: Record<string, unknown>;
  constructor(code: string, message: string, options?: { cause?: unknown; detail?: Record<string, unknown> }) {
    super(code, message, options);
    this.detail = options?.detail;
  }
}

/**
 * The run was sound as far as the link goes, but the data does not prove
 * randomness (S too low, a health test failed, an echo mismatch, too many
 * lost trials). Nothing was output for the refused blocks. Exit 1.
 */
export class CertificationRefusedError extends EpqError {
  readonly exitCode = ExitCode.CERTIFICATION_REFUSED;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export function isEpqError(e: unknown): e is EpqError {
  return e instanceof EpqError;
}
