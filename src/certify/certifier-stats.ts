/** The certifier's running totals over a run (Certifier.stats). */
export interface CertifierStats {
  blocks: number;
  certified: number;
  refused: number;
  certifiedBits: number;
  recordedTrials: number;
  lostDeviceTrials: number;
  lostLinkTrials: number;
  linkLostFrames: number;
  invalidFrames: number;
  statusFrames: number;
  /** STATUS frames with a fault bit other than the ignored ones (OVERFLOW included). */
  faultStatusFrames: number;
  /** STATUS frames with OVERFLOW set (PROTOCOL 4 STATUS bit 3: trials lost since the last STATUS). */
  overflowStatusFrames: number;
  /** STATUS frames with SETTINGS_STARVED set (PROTOCOL 4 STATUS bit 4: the host FIFO ran empty). */
  starvedStatusFrames: number;
  /** TRIALS frames flagged RESUMED (PROTOCOL 4 TRIALS bit 2): one per starved interval that ended. */
  resumedFrames: number;
  /** Host settings: records whose echo was checked (PROTOCOL 6). */
  echoChecked: number;
  /** Host settings: random bits drawn for the settings of finished blocks. */
  settingBits: number;
}

/** All totals at zero, for a new run. */
export function emptyCertifierStats(): CertifierStats {
  return {
    blocks: 0,
    certified: 0,
    refused: 0,
    certifiedBits: 0,
    recordedTrials: 0,
    lostDeviceTrials: 0,
    lostLinkTrials: 0,
    linkLostFrames: 0,
    invalidFrames: 0,
    statusFrames: 0,
    faultStatusFrames: 0,
    overflowStatusFrames: 0,
    starvedStatusFrames: 0,
    resumedFrames: 0,
    echoChecked: 0,
    settingBits: 0,
  };
}
