import { type ByteSource, bufferSource, concatBytes } from '../../../source.js';
import type { ReaderResult, ScanContext } from '../../context.js';
import type { FormatReader } from '../../format-reader.js';
import { defaultLimits } from '../../limits.js';
import { GlobalPolicy } from '../../policy/global-policy.js';
import { PickleAnalysis } from './analysis.js';
import { type Directive, type Divergence, HALT, PickleDecoder } from './decoder.js';
import { PickleMachine, type StreamEnd } from './machine.js';
import { opcodes } from './opcodes.js';
import { tupleItems, type Value } from './values.js';

/** The magic number legacy torch.save writes as its first pickle (0x1950a86a20f9469cfc6c). */
const torchLegacyMagic = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
/** Legacy torch.save: magic, protocol version, sys_info, the object, storage keys; raw storages follow. */
const torchLegacyStreams = 5;

const probePolicy = new GlobalPolicy();

/**
 * Content sniffing: a PROTO header, or a stream that shows an import or reaches STOP before
 * any error. A text file fails within a few bytes; a broken pickle with a payload still counts.
 */
export function looksLikePickle(head: Uint8Array, wholeFile = false): boolean {
  const first = head[0];
  if (first === undefined || !opcodes[first]) return false;
  if (first === 0x80) return head.length > 1 && head[1]! <= 5;
  const probe = probeHead(head, wholeFile);
  return probe.stopped || probe.evidence || (probe.valid && head.length >= 4096);
}

/**
 * Whether CPython could read `head` as the start of a pickle without failing. Files of other
 * formats fail within a few bytes; one that does not may be a polyglot and is scanned as both.
 */
export function couldBePickle(head: Uint8Array): boolean {
  const first = head[0];
  if (first === undefined || !opcodes[first]) return false;
  const probe = probeHead(head);
  return probe.valid || probe.evidence;
}

function probeHead(
  head: Uint8Array,
  wholeFile = false,
): { stopped: boolean; evidence: boolean; valid: boolean } {
  const analysis = new PickleAnalysis(probePolicy, defaultLimits.pickle);
  let stopped = false;
  const machine = new PickleMachine(
    analysis,
    defaultLimits.pickle,
    () => {
      stopped = true;
      return HALT;
    },
    false,
  );
  // Frames that disagree with their opcodes are crafted: a file reader reads on where memory stops.
  let diverged = false;
  const decoder = new PickleDecoder(machine.handle, defaultLimits.pickle, {
    onDiverge: () => {
      diverged = true;
    },
  });
  decoder.feed(head);
  const valid = decoder.error === undefined;
  // At the end of the file, a reader acts on a last line without its newline (see PickleDecoder.end).
  if (wholeFile) decoder.end();
  return { stopped, evidence: machine.evidence || diverged, valid };
}

export interface PickleScanOptions {
  /** Offset of the stream inside its member, for messages (npy data after a header). */
  baseOffset?: number;
  /** Not known to be a pickle (a polyglot check): stay silent unless the bytes prove to be one. */
  tentative?: boolean;
}

/** One way of reading the stream: CPython's readers part where frames disagree with opcodes. */
interface Reading {
  decoder: PickleDecoder;
  machine: PickleMachine;
  streams: number;
  legacyTorch: boolean;
}

/** Trailing data searched for further pickles: what a loader that seeks could load. */
const trailingWindow = 4 * 2 ** 20;

/** Scans a pickle byte stream (one or more pickles, possibly broken) and reports its findings. */
export async function scanPickleStream(
  chunks: AsyncIterable<Uint8Array>,
  context: ScanContext,
  options: PickleScanOptions = {},
): Promise<ReaderResult> {
  const limits = context.limits.pickle;
  const analysis = new PickleAnalysis(context.policy, limits);
  const base = options.baseOffset ?? 0;
  const record = legacyTarRecord(context);
  const readings: Reading[] = [];
  const forked: Reading[] = [];

  const onStreamEnd =
    (reading: Reading) =>
    (end: StreamEnd): Directive | undefined => {
      reading.streams = end.index + 1;
      if (end.index === 0 && isTorchMagic(end.result)) reading.legacyTorch = true;
      if (reading.legacyTorch && reading.streams >= torchLegacyStreams) return HALT;
      return end.index > 0 && record ? record(end.result) : undefined;
    };
  let divergedAt: Divergence | undefined;
  const onDiverge = (divergence: Divergence): void => {
    divergedAt = divergence;
    if (!divergence.pending) return;
    const reading = { streams: primary.streams, legacyTorch: primary.legacyTorch } as Reading;
    reading.machine = primary.machine.fork(onStreamEnd(reading));
    reading.decoder = new PickleDecoder(reading.machine.handle, limits, {
      mode: 'file',
      start: { position: divergence.offset, filePos: divergence.filePos },
    });
    reading.decoder.feed(divergence.pending);
    forked.push(reading);
  };
  const primary = { streams: 0, legacyTorch: false } as Reading;
  primary.machine = new PickleMachine(analysis, limits, onStreamEnd(primary), !options.tentative);
  primary.decoder = new PickleDecoder(primary.machine.handle, limits, { onDiverge });
  readings.push(primary);

  // Bytes since the primary reading's current stream began, for a search of trailing data.
  const recent = new RecentBytes(trailingWindow);
  let trailing: RecentBytes | undefined;
  for await (const chunk of chunks) {
    if (trailing) {
      if (!trailing.push(chunk)) break;
      continue;
    }
    recent.append(chunk);
    for (const reading of readings) reading.decoder.feed(chunk);
    readings.push(...forked.splice(0));
    recent.dropBefore(primary.machine.streamStart);
    if (readings.every((r) => r.decoder.done)) {
      if (followsStackedPickles(primary, options))
        trailing = recent.from(primary.decoder.position, trailingWindow);
      else if (searchesTrailingData(primary, record, options)) {
        trailing = recent.from(primary.machine.streamStart + 1, trailingWindow);
      } else break;
    }
  }
  if (trailing && followsStackedPickles(primary, options)) readStackedPickles(trailing, analysis, context);
  for (const reading of readings) reading.decoder.end();
  readings.push(...forked.splice(0));
  const error = primary.decoder.error;
  const machine = primary.machine;
  const midStream =
    !primary.decoder.halted && !error && (machine.opsInStream > 0 || !primary.decoder.atBoundary);
  if (error || midStream) {
    const offset = base + (error?.offset ?? primary.decoder.position);
    if (machine.evidence) {
      const why = error ? error.message : 'stream ends without STOP';
      context.report('malformed', `pickle stream ${machine.streamIndex + 1} is broken: ${why}`, { offset });
      context.partial();
    } else if (primary.streams > 0 && !options.tentative) {
      const start = base + machine.streamStart;
      context.report(
        'trailingData',
        `data after the end of the pickle (from offset ${start}) is not a pickle`,
        {
          offset: start,
        },
      );
      if (!trailing && searchesTrailingData(primary, record, options)) {
        trailing = recent.from(machine.streamStart + 1, trailingWindow);
      }
      if (trailing) searchTrailingData(trailing, analysis, context);
    }
  }
  // Where the bytes are only possibly a pickle (a polyglot check), a frame means something only
  // when the bytes proved to be one.
  if (divergedAt && (!options.tentative || primary.streams > 0 || machine.evidence)) {
    analysis.report(
      'frameDifferential',
      `${divergedAt.reason}: CPython's file and memory readers read different opcodes from here${
        divergedAt.pending ? '; both readings were scanned' : ', and the file reading could not be followed'
      }`,
      divergedAt.offset,
    );
  }
  for (const finding of analysis.findings()) {
    context.add(finding.offset === undefined ? finding : { ...finding, offset: finding.offset + base });
  }
  for (const payload of analysis.nested) {
    await context.nested(bufferSource(payload.data), `pickle@${base + payload.offset}`);
  }
  const legacyTorch = readings.some((r) => r.legacyTorch);
  return legacyTorch
    ? { format: 'pytorch-legacy', storageKeys: analysis.storageKeys }
    : { storageKeys: analysis.storageKeys };
}

/**
 * Legacy torch.load reads five pickles and then raw storages, but a loader of stacked pickles
 * (`while True: pickle.load(f)`) reads on: whatever pickles follow are read as it would.
 */
function followsStackedPickles(primary: Reading, options: PickleScanOptions): boolean {
  return primary.legacyTorch && primary.decoder.halted && !options.tentative;
}

/** Reads pickle after pickle from the start of `trailing`; what would block is reported. */
function readStackedPickles(trailing: RecentBytes, analysis: PickleAnalysis, context: ScanContext): void {
  const limits = context.limits.pickle;
  const attempt = new PickleAnalysis(context.policy, limits);
  const machine = new PickleMachine(attempt, limits, () => undefined, false);
  const decoder = new PickleDecoder(machine.handle, limits);
  decoder.feed(trailing.bytes());
  // At the end of the file, a reader acts on a last line without its newline (PickleDecoder.end).
  if (!trailing.truncated) decoder.end();
  analysis.absorbBlocking(attempt, trailing.start);
}

/** Trailing data is searched after plain pickles only: record formats say where their data goes. */
function searchesTrailingData(primary: Reading, record: unknown, options: PickleScanOptions): boolean {
  const failed = primary.decoder.error !== undefined;
  return (
    failed &&
    primary.streams > 0 &&
    !primary.machine.evidence &&
    !record &&
    !primary.legacyTorch &&
    !options.tentative
  );
}

/**
 * Any pickle that starts somewhere in trailing data and loads (reaches STOP, or imports before it
 * fails) is what a loader that seeks there would run: each is analysed like the first. Offsets that
 * an earlier attempt decoded as opcodes are not tried again (a suffix reads a subset of the same
 * program), and the work is bounded.
 */
function searchTrailingData(trailing: RecentBytes, analysis: PickleAnalysis, context: ScanContext): void {
  const bytes = trailing.bytes();
  const covered = new Uint8Array(bytes.length);
  const limits = context.limits.pickle;
  let work = 0;
  const budget = 64 * bytes.length + 2 ** 20;
  for (let start = 0; start < bytes.length; start++) {
    if (covered[start] || !opcodes[bytes[start]!]) continue;
    if (work > budget) {
      analysis.report(
        'resourceLimit',
        `trailing data from offset ${trailing.start + start} was not searched for further pickles (work limit)`,
        trailing.start + start,
      );
      break;
    }
    const attempt = new PickleAnalysis(context.policy, limits);
    const machine = new PickleMachine(attempt, limits, () => HALT, false);
    const decoder = new PickleDecoder((code, arg, offset) => {
      covered[start + offset] = 1;
      return machine.handle(code, arg, offset);
    }, limits);
    decoder.feed(bytes.subarray(start));
    if (!trailing.truncated) decoder.end();
    work += 64 + decoder.position;
    if (machine.evidence || decoder.halted) analysis.absorbBlocking(attempt, trailing.start + start);
  }
  if (trailing.truncated) {
    analysis.report(
      'resourceLimit',
      `trailing data past ${trailingWindow} bytes was not searched for further pickles`,
      trailing.start + bytes.length,
    );
  }
}

/** A bounded window of the most recent bytes of a stream, by absolute offset. */
class RecentBytes {
  private chunks: Uint8Array[] = [];
  private length = 0;
  /** Absolute offset of the first byte held. */
  start = 0;
  truncated = false;

  constructor(private readonly limit: number) {}

  /** Adds bytes to a sliding window (see dropBefore). */
  append(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Adds bytes; false once the window is full (later bytes are not kept). */
  push(chunk: Uint8Array): boolean {
    const room = this.limit - this.length;
    if (chunk.length > room) {
      if (room > 0) this.chunks.push(chunk.slice(0, room));
      this.length = this.limit;
      this.truncated = true;
      return false;
    }
    this.chunks.push(chunk);
    this.length += chunk.length;
    return true;
  }

  /** Forgets whole chunks that end before `offset`; past the limit, the oldest go too. */
  dropBefore(offset: number): void {
    while (this.chunks.length > 0) {
      const first = this.chunks[0]!;
      const tooOld = this.start + first.length <= offset;
      if (!tooOld && (this.length <= this.limit || this.chunks.length === 1)) break;
      this.chunks.shift();
      this.start += first.length;
      this.length -= first.length;
    }
  }

  /** A new window holding what this one has from `offset` on. */
  from(offset: number, limit: number): RecentBytes {
    const out = new RecentBytes(limit);
    const all = this.bytes();
    out.start = Math.max(offset, this.start);
    out.push(all.subarray(Math.min(all.length, out.start - this.start)));
    // Bytes that slid out of the window before the search began were not kept.
    if (out.start > offset) out.truncated = true;
    return out;
  }

  bytes(): Uint8Array {
    const all = concatBytes(this.chunks, this.length);
    this.chunks = [all];
    return all;
  }
}

function isTorchMagic(value: Value | undefined): boolean {
  if (value?.k !== 'long' || !value.raw) return false;
  return value.raw.length === torchLegacyMagic.length && value.raw.every((b, i) => b === torchLegacyMagic[i]);
}

export const pickleReader: FormatReader = {
  id: 'pickle',
  description: 'pickle stream',
  detect: (head, source) => looksLikePickle(head, source.size === head.length),
  scan: (source: ByteSource, context) => scanPickleStream(source.stream(), context),
};

/** Element sizes of PyTorch's legacy storage types, for the raw data after each storage record. */
const storageElementSizes: Record<string, number> = {
  DoubleStorage: 8,
  FloatStorage: 4,
  HalfStorage: 2,
  BFloat16Storage: 2,
  LongStorage: 8,
  IntStorage: 4,
  ShortStorage: 2,
  CharStorage: 1,
  ByteStorage: 1,
  BoolStorage: 1,
  ComplexFloatStorage: 8,
  ComplexDoubleStorage: 16,
  QInt32Storage: 4,
};

/**
 * PyTorch's legacy tar format interleaves pickles with raw data in two members: `storages`
 * (a pickled (key, location, type) tuple, an 8-byte element count, the elements) and
 * `tensors` (a pickled tuple, a 4-byte ndim, then 4 + 16*ndim + 8 bytes of sizes and strides).
 * Every one of those pickles is loaded, so every one is scanned.
 */
function legacyTarRecord(
  context: ScanContext,
): ((result: Value | undefined) => Directive | undefined) | undefined {
  if (context.depth === 0) return undefined;
  if (context.name === 'tensors') return () => ({ prefixBytes: 4, unit: 16, extra: 12 });
  if (context.name !== 'storages') return undefined;
  return (result) => {
    const type = tupleItems(result ?? { k: 'scalar' })?.[2];
    const size = type?.k === 'global' ? storageElementSizes[type.name] : undefined;
    return { prefixBytes: 8, unit: size ?? 1, extra: 0 };
  };
}
