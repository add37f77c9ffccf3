import type { DecoderLimits } from './formats/pickle/decoder.js';
import type { MachineLimits } from './formats/pickle/machine.js';

/** Bounds that keep memory and time finite whatever a file holds. */
export interface ScanLimits {
  /** Containers inside containers (zip in zip, pickle bytes in pickle). */
  maxDepth: number;
  /** Decompressed bytes read from one member or wrapper before giving up. */
  maxExpandedBytes: number;
  /** Expansion ratio above which compressed data is treated as a bomb (past `bombFloorBytes`). */
  maxCompressionRatio: number;
  bombFloorBytes: number;
  /** Members of one zip or tar archive that are read; past it the rest is a finding, not scanned. */
  maxArchiveEntries: number;
  maxCentralDirectoryBytes: number;
  /** A zip reached only through a stream (inside gzip, tar) is buffered in memory up to this size. */
  maxBufferedContainerBytes: number;
  pickle: MachineLimits &
    DecoderLimits & {
      maxNestedBytes: number;
      maxStorageKeys: number;
    };
}

export const defaultLimits: ScanLimits = {
  maxDepth: 6,
  maxExpandedBytes: 8 * 2 ** 30,
  maxCompressionRatio: 200,
  bombFloorBytes: 64 * 2 ** 20,
  maxArchiveEntries: 100_000,
  maxCentralDirectoryBytes: 256 * 2 ** 20,
  maxBufferedContainerBytes: 256 * 2 ** 20,
  pickle: {
    maxStack: 1_000_000,
    maxValueDepth: 50_000,
    maxValues: 500_000,
    expansionRatio: 64,
    maxAllocation: 2 ** 32,
    maxMarks: 100_000,
    maxMemo: 250_000,
    maxRetainedBytes: 64 * 2 ** 20,
    maxStringChars: 4096,
    maxKeptChars: 32 * 2 ** 20,
    maxLineBytes: 1 << 20,
    keepBytes: 16 * 2 ** 20,
    maxNestedBytes: 64 * 2 ** 20,
    maxStorageKeys: 1_000_000,
  },
};
