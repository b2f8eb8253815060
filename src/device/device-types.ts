/**
 * The options and counters of a Device (device.ts).
 */
import type { BindingInterface } from '../serialport-types.ts';
import type { RunOptions } from './run.ts';
import type { WatchdogClock } from './watchdog.ts';

export interface DeviceOpenOptions {
  /** Serial port path (/dev/ttyACM0, a PTY, or the simulator's path). */
  path: string;
  /** serialport binding; default the native one (SerialPort.binding). */
  binding?: BindingInterface;
  /** How long a command waits for its ACK (PROTOCOL 4 ACK promises 50 ms; default 500). */
  ackTimeoutMs?: number;
  /** Extra tries for idempotent commands after a timeout (default 2). */
  retries?: number;
  /** Ignored by the chip (PROTOCOL 2); 921600 by convention. */
  baudRate?: number;
  /** Back-pressure threshold for runs. */
  run?: RunOptions;
  /**
   * Watchdog of a running chip: no valid frame, or no TRIALS, for this long ends the run (WATCHDOG).
   * Default 3 status intervals (watchdog.ts); 0 turns it off.
   */
  watchdogMs?: number;
  /** How often the device node is checked for having vanished (presence.ts; default 250 ms); 0 turns it off. */
  presenceCheckMs?: number;
  /** The watchdog's clock (tests run it in simulated time). */
  watchdogClock?: WatchdogClock;
  /** One line for the user when the driver recovers the chip (e.g. stops a run an earlier host left going). */
  onNotice?: (line: string) => void;
}

export interface DeviceStats {
  bytesReceived: number;
  framesReceived: number;
  /** Device frames lost on the link (seq jumps). */
  linkLostFrames: number;
  duplicateFrames: number;
  /** CRC-valid frames dropped for failing their checks. */
  invalidFrames: number;
  /** Well-formed frames of a type protocol 1.0 does not define (PROTOCOL 3: skipped and counted). */
  unknownFrames: number;
  /** TRIALS/CREDIT outside any run, ACKs for nothing pending, unrequested COUNTS. */
  strayFrames: number;
  commandRetries: number;
}

export interface StartOptions {
  /** Where x, y come from (PROTOCOL 5 START source). */
  source?: 'internal' | 'host';
  /** Trials per second; 0 or absent: the chip's default. */
  rateTrialsPerS?: number;
  /** The chip stops by itself after this many trials; 0 or absent: until STOP. */
  limitTrials?: number;
}

export interface MeasureCountsOptions {
  /** Echoed in COUNTS; default a counter. */
  id?: number;
  angleACentideg: number;
  angleBCentideg: number;
  integrationMs: number;
}
