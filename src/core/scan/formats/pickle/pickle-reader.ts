import { type ByteSource, bufferSource } from '../../../source.js';
import type { ReaderResult, ScanContext } from '../../context.js';
import type { FormatReader } from '../../format-reader.js';
import { defaultLimits } from '../../limits.js';
import { GlobalPolicy } from '../../policy/global-policy.js';
import { PickleAnalysis } from './analysis.js';
import { type Directive, HALT, PickleDecoder } from './decoder.js';
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
export function looksLikePickle(head: Uint8Array): boolean {
  const first = head[0];
  if (first === undefined || !opcodes[first]) return false;
  if (first === 0x80) return head.length > 1 && head[1]! <= 5;
  const probe = probeHead(head);
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

function probeHead(head: Uint8Array): { stopped: boolean; evidence: boolean; valid: boolean } {
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
  const decoder = new PickleDecoder(machine.handle, defaultLimits.pickle);
  decoder.feed(head);
  return { stopped, evidence: machine.evidence, valid: decoder.error === undefined };
}

export interface PickleScanOptions {
  /** Offset of the stream inside its member, for messages (npy data after a header). */
  baseOffset?: number;
  /** Not known to be a pickle (a polyglot check): stay silent unless the bytes prove to be one. */
  tentative?: boolean;
}

/** Scans a pickle byte stream (one or more pickles, possibly broken) and reports its findings. */
export async function scanPickleStream(
  chunks: AsyncIterable<Uint8Array>,
  context: ScanContext,
  options: PickleScanOptions = {},
): Promise<ReaderResult> {
  const limits = context.limits.pickle;
  const analysis = new PickleAnalysis(context.policy, limits);
  let legacyTorch = false;
  let streams = 0;
  const record = legacyTarRecord(context);
  const onStreamEnd = (end: StreamEnd): Directive | undefined => {
    streams = end.index + 1;
    if (end.index === 0 && isTorchMagic(end.result)) legacyTorch = true;
    if (legacyTorch && streams >= torchLegacyStreams) return HALT;
    return end.index > 0 && record ? record(end.result) : undefined;
  };
  const machine = new PickleMachine(analysis, limits, onStreamEnd, !options.tentative);
  const decoder = new PickleDecoder(machine.handle, limits);
  for await (const chunk of chunks) {
    decoder.feed(chunk);
    if (decoder.done) break;
  }
  decoder.end();
  const base = options.baseOffset ?? 0;
  const error = decoder.error;
  const midStream = !decoder.halted && !error && (machine.opsInStream > 0 || !decoder.atBoundary);
  if (error || midStream) {
    const offset = base + (error?.offset ?? decoder.position);
    if (machine.evidence) {
      const why = error ? error.message : 'stream ends without STOP';
      context.report('malformed', `pickle stream ${machine.streamIndex + 1} is broken: ${why}`, { offset });
      context.partial();
    } else if (streams > 0 && !options.tentative) {
      const start = base + machine.streamStart;
      context.report(
        'trailingData',
        `data after the end of the pickle (from offset ${start}) is not a pickle`,
        {
          offset: start,
        },
      );
    }
  }
  for (const finding of analysis.findings()) {
    context.add(finding.offset === undefined ? finding : { ...finding, offset: finding.offset + base });
  }
  for (const payload of analysis.nested) {
    await context.nested(bufferSource(payload.data), `pickle@${base + payload.offset}`);
  }
  return legacyTorch
    ? { format: 'pytorch-legacy', storageKeys: analysis.storageKeys }
    : { storageKeys: analysis.storageKeys };
}

function isTorchMagic(value: Value | undefined): boolean {
  if (value?.k !== 'long' || !value.raw) return false;
  return value.raw.length === torchLegacyMagic.length && value.raw.every((b, i) => b === torchLegacyMagic[i]);
}

export const pickleReader: FormatReader = {
  id: 'pickle',
  description: 'pickle stream',
  detect: (head) => looksLikePickle(head),
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
