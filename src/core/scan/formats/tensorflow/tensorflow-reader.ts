import { bufferAccess, cachedAccess, type RandomAccess, readAllBounded } from '../../../source.js';
import type { ScanContext } from '../../context.js';
import type { FormatReader } from '../../format-reader.js';
import { analyseGraph, type GraphModel, isJudged, type NodeInfo, newGraphModel } from './graph.js';
import { checkKerasMetadata } from './keras-metadata.js';
import {
  type AttrValue,
  decodeAttrValue,
  decodeSaverDef,
  decodeSignatureDefEntry,
  type SignatureDefEntry,
} from './proto.js';
import {
  bytesOf,
  fields,
  fieldsIn,
  stringOf,
  textOf,
  WireBudget,
  WireError,
  type WireField,
} from './wire.js';

type Kind = 'saved-model' | 'graph-def' | 'keras-metadata';

/** Fields walked in one file, and nodes kept: bounds on time and memory whatever the file claims. */
const maxFields = 10_000_000;
const maxNodes = 1_000_000;
/** Attribute values up to this size are decoded whole; larger ones are tensors, walked past. */
const maxAttrBytes = 1 << 20;
const maxSignatureBytes = 1 << 20;

/**
 * TensorFlow SavedModel (`saved_model.pb`), frozen GraphDef (`.pb`) and tf.keras'
 * `keras_metadata.pb`. Protobuf has no magic number: the first fields are parsed and must be what
 * TensorFlow writes first. The graph and every function of its library are walked field by field
 * over the file, reading names, op types, inputs and attributes; tensor contents are skipped.
 */
export const tensorflowReader: FormatReader = {
  id: 'tensorflow',
  description: 'TensorFlow protobuf',
  detect: (head, source) => classify(head, source.size) !== undefined,
  async scan(source, context, head) {
    const kind = classify(head, source.size);
    if (!kind) return undefined;
    const format =
      kind === 'saved-model' ? 'tf-saved-model' : kind === 'graph-def' ? 'tf-graph-def' : 'keras-metadata';
    let direct = source.random;
    if (!direct) {
      const bytes = await readAllBounded(source, context.limits.maxBufferedContainerBytes);
      if (!bytes) {
        context.report(
          'tfMalformed',
          `TensorFlow protobuf inside a stream is larger than ${context.limits.maxBufferedContainerBytes} bytes and was not inspected; unpack it to scan it`,
        );
        context.partial();
        return { format };
      }
      direct = bufferAccess(bytes);
    }
    const random = cachedAccess(direct, 4096, 16);
    const budget = new WireBudget(maxFields);
    if (kind === 'keras-metadata') {
      await guarded(context, () => checkKerasMetadata(random, budget, context));
      return { format };
    }
    const graphs: GraphModel[] = [];
    await guarded(context, async () => {
      if (kind === 'graph-def') {
        const graph = newGraphModel();
        graphs.push(graph);
        await walkGraphDef(random, 0, random.size, graph, budget, context);
        return;
      }
      for await (const field of fields(random, 0, random.size, budget)) {
        if (field.number === 2 && field.wire === 2) {
          const graph = newGraphModel();
          graph.savedModel = true;
          graphs.push(graph);
          await walkMetaGraph(random, field, graph, budget, context);
        }
      }
    });
    for (const graph of graphs) analyseGraph(graph, context);
    return { format };
  },
};

async function guarded(context: ScanContext, walk: () => Promise<void>): Promise<void> {
  try {
    await walk();
  } catch (error) {
    if (!(error instanceof WireError || error instanceof LimitError)) throw error;
    const message = `TensorFlow protobuf cannot be fully read: ${error.message}`;
    context.report('tfMalformed', message, error instanceof WireError ? { offset: error.offset } : {});
    context.partial();
  }
}

class LimitError extends Error {}

async function walkMetaGraph(
  random: RandomAccess,
  meta: WireField,
  graph: GraphModel,
  budget: WireBudget,
  context: ScanContext,
): Promise<void> {
  for await (const field of fields(random, meta.start, meta.end, budget)) {
    if (field.wire !== 2) continue;
    if (field.number === 2) await walkGraphDef(random, field.start, field.end, graph, budget, context);
    else if (field.number === 3) {
      const bytes = await bytesOf(random, field, maxSignatureBytes);
      if (bytes) graph.saver = decodeOrReport(() => decodeSaverDef(bytes), context, 'the SaverDef', field.at);
    } else if (field.number === 5) {
      const bytes = await bytesOf(random, field, maxSignatureBytes);
      const entry = bytes
        ? decodeOrReport(() => decodeSignatureDefEntry(bytes), context, 'a SignatureDef', field.at)
        : undefined;
      if (entry) graph.signatures.push(entry as SignatureDefEntry);
      else if (!bytes) {
        context.report(
          'tfMalformed',
          `a SignatureDef of ${field.end - field.start} bytes was not inspected`,
          {
            offset: field.at,
          },
        );
        context.partial();
        graph.signatureUnread = true;
      }
    }
  }
}

async function walkGraphDef(
  random: RandomAccess,
  start: number,
  end: number,
  graph: GraphModel,
  budget: WireBudget,
  context: ScanContext,
): Promise<void> {
  for await (const field of fields(random, start, end, budget)) {
    if (field.wire !== 2) continue;
    if (field.number === 1) graph.top.push(await walkNode(random, field, graph, budget, context));
    else if (field.number === 2) {
      for await (const fn of fields(random, field.start, field.end, budget)) {
        if (fn.number === 1 && fn.wire === 2) await walkFunction(random, fn, graph, budget, context);
      }
    }
  }
}

async function walkFunction(
  random: RandomAccess,
  fn: WireField,
  graph: GraphModel,
  budget: WireBudget,
  context: ScanContext,
): Promise<void> {
  let name = '';
  const nodes: NodeInfo[] = [];
  for await (const field of fields(random, fn.start, fn.end, budget)) {
    if (field.wire !== 2) continue;
    if (field.number === 1) {
      for await (const sig of fields(random, field.start, field.end, budget)) {
        if (sig.number === 1 && sig.wire === 2) name = await stringOf(random, sig);
      }
    } else if (field.number === 3)
      nodes.push(slim(await walkNode(random, field, graph, budget, context), graph));
  }
  graph.functions.set(name, { name, nodes });
}

const empty: never[] = [];

/**
 * What a function's node keeps: its op (interned) and calls, and, for the ops that are judged and
 * the string constants that name their paths, its name, inputs and strings. A function of a
 * million additions costs a few bytes per node.
 */
function slim(node: NodeInfo, graph: GraphModel): NodeInfo {
  let op = graph.opNames.get(node.op);
  if (op === undefined) {
    op = node.op;
    graph.opNames.set(op, op);
  }
  node.op = op;
  if (node.calls.length === 0) node.calls = empty;
  if (isJudged(op) || node.constStrings.length > 0) return node;
  node.name = '';
  node.inputs = empty;
  node.strings = empty;
  return node;
}

/** Nodes up to this size are read in one piece and parsed in memory; larger ones hold tensors. */
const maxNodeBytes = 64 * 1024;
/** A Const's string contents are kept (file paths) when its tensor is at most this size. */
const maxConstBytes = 4096;

async function walkNode(
  random: RandomAccess,
  node: WireField,
  graph: GraphModel,
  budget: WireBudget,
  context: ScanContext,
): Promise<NodeInfo> {
  if (++graph.nodeCount > maxNodes) throw new LimitError(`more than ${maxNodes} nodes`);
  const info: NodeInfo = { name: '', op: '', inputs: [], calls: [], strings: [], constStrings: [] };
  const whole = await bytesOf(random, node, maxNodeBytes);
  if (whole) {
    parseNodeFields(whole, 0, whole.length, node.start, budget, context, info);
    return info;
  }
  for await (const field of fields(random, node.start, node.end, budget)) {
    if (field.wire !== 2) continue;
    if (field.number === 1) info.name = await stringOf(random, field);
    else if (field.number === 2) info.op = await stringOf(random, field);
    else if (field.number === 3) info.inputs.push(await stringOf(random, field));
    else if (field.number === 5) {
      const entry = await bytesOf(random, field, maxNodeBytes);
      if (entry) {
        parseAttrEntry(entry, 0, entry.length, field.start, budget, context, info);
        continue;
      }
      let key = '';
      for await (const part of fields(random, field.start, field.end, budget)) {
        if (part.wire !== 2) continue;
        if (part.number === 1) key = await stringOf(random, part);
        else if (part.number === 2) {
          try {
            await largeAttrValue(random, part, key, budget, context, info);
          } catch (error) {
            if (!(error instanceof WireError)) throw error;
            // The value is bounded by its entry, which is well formed: the rest of the node is read.
            context.report('tfMalformed', `an attribute of node "${info.name}" cannot be decoded`, {
              offset: error.offset,
            });
            context.partial();
          }
        }
      }
    }
  }
  return info;
}

/** NodeDef fields of a node held in memory: 1 name, 2 op, 3 input, 5 attr. */
function parseNodeFields(
  bytes: Uint8Array,
  start: number,
  end: number,
  base: number,
  budget: WireBudget,
  context: ScanContext,
  info: NodeInfo,
): void {
  for (const field of fieldsIn(bytes, start, end, budget, base)) {
    if (field.wire !== 2) continue;
    const value = () => bytes.subarray(field.start, Math.min(field.end, field.start + 4096));
    if (field.number === 1) info.name = textOf(value(), field.end - field.start > 4096);
    else if (field.number === 2) info.op = textOf(value(), field.end - field.start > 4096);
    else if (field.number === 3) info.inputs.push(textOf(value(), field.end - field.start > 4096));
    else if (field.number === 5) parseAttrEntry(bytes, field.start, field.end, base, budget, context, info);
  }
}

/** One entry of the attribute map: 1 key, 2 value (AttrValue). */
function parseAttrEntry(
  bytes: Uint8Array,
  start: number,
  end: number,
  base: number,
  budget: WireBudget,
  context: ScanContext,
  info: NodeInfo,
): void {
  let key = '';
  for (const field of fieldsIn(bytes, start, end, budget, base)) {
    if (field.wire !== 2) continue;
    if (field.number === 1)
      key = textOf(bytes.subarray(field.start, Math.min(field.end, field.start + 4096)));
    else if (field.number === 2) {
      const value = decodeOrReport(
        () => decodeAttrValue(bytes.subarray(field.start, field.end)),
        context,
        `an attribute of node "${info.name}"`,
        base + field.at,
      );
      if (value) collect(info, key, value);
    }
  }
}

/** An attribute value too large to read: a tensor (skipped unless small) or a long list. */
async function largeAttrValue(
  random: RandomAccess,
  value: WireField,
  key: string,
  budget: WireBudget,
  context: ScanContext,
  info: NodeInfo,
): Promise<void> {
  for await (const part of fields(random, value.start, value.end, budget)) {
    if (part.number === 7) continue; // shape
    const limit = part.number === 8 ? maxConstBytes : maxAttrBytes;
    // The field with its tag is an AttrValue of its own: AttrValue is a oneof.
    const bytes = await bytesOf(random, { ...part, start: part.at }, limit);
    if (!bytes) {
      if (part.number === 8) continue; // tensor content: never read
      context.report(
        'tfMalformed',
        `an attribute of node "${info.name}" holds a field of ${part.end - part.start} bytes that was not inspected`,
        { offset: part.at },
      );
      context.partial();
      continue;
    }
    const decoded = decodeOrReport(
      () => decodeAttrValue(bytes),
      context,
      `an attribute of node "${info.name}"`,
      part.at,
    );
    if (decoded) collect(info, key, decoded);
  }
}

function collect(info: NodeInfo, key: string, value: AttrValue): void {
  if (value.func?.name) info.calls.push(value.func.name);
  for (const fn of value.list?.func ?? []) if (fn.name) info.calls.push(fn.name);
  const text = (bytes: Uint8Array) => textOf(bytes.subarray(0, 4096));
  if (value.s && value.s.length > 0) info.strings.push({ key, value: text(value.s) });
  for (const s of value.list?.s ?? []) info.strings.push({ key, value: text(s) });
  if (key === 'value' && value.tensor) {
    for (const s of value.tensor.stringVal.slice(0, 16)) info.constStrings.push(text(s));
  }
}

function decodeOrReport<T>(
  decode: () => T,
  context: ScanContext,
  what: string,
  offset: number,
): T | undefined {
  try {
    return decode();
  } catch {
    context.report('tfMalformed', `${what} cannot be decoded`, { offset });
    context.partial();
    return undefined;
  }
}

/** What TensorFlow writes first in each kind of file, parsed from the head. */
export function classify(head: Uint8Array, size: number | undefined): Kind | undefined {
  try {
    const total = size ?? Number.MAX_SAFE_INTEGER;
    const first = readField(head, 0);
    if (!first) return undefined;
    // SavedModel: saved_model_schema_version = 1, then meta_graphs.
    if (first.number === 1 && first.wire === 0 && first.value === 1) {
      const meta = readField(head, first.next);
      // The length is not checked against the size here: one that runs past the end is a finding.
      if (meta?.number !== 2 || meta.wire !== 2) return undefined;
      const inner = readField(head, meta.start);
      return inner && inner.wire === 2 && inner.number >= 1 && inner.number <= 7 ? 'saved-model' : undefined;
    }
    if (first.wire !== 2) return undefined;
    const a = readField(head, first.start);
    if (first.number === 1 && a) {
      // keras_metadata.pb: SavedMetadata.nodes, a SavedObject that names a _tf_keras_ identifier.
      if ((a.number === 2 && a.wire === 0) || (a.number === 3 && a.wire === 2)) {
        const window = new TextDecoder('latin1').decode(
          head.subarray(first.start, Math.min(first.end, head.length)),
        );
        return window.includes('_tf_keras_') ? 'keras-metadata' : undefined;
      }
      // GraphDef.node: NodeDef name, then op.
      if (a.number === 1 && a.wire === 2) {
        const op = readField(head, a.end);
        if (op?.number !== 2 || op.wire !== 2 || op.end > head.length) return undefined;
        const name = new TextDecoder('latin1').decode(head.subarray(op.start, op.end));
        return /^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(name) ? 'graph-def' : undefined;
      }
      return undefined;
    }
    // GraphDef without nodes: library.function[0].signature.name.
    if (first.number === 2 && first.end <= total && a && a.number === 1 && a.wire === 2) {
      const sig = readField(head, a.start);
      const name = sig && sig.number === 1 && sig.wire === 2 ? readField(head, sig.start) : undefined;
      if (name?.number !== 1 || name.wire !== 2 || name.end > head.length) return undefined;
      const text = new TextDecoder('latin1').decode(head.subarray(name.start, name.end));
      return /^[A-Za-z_][A-Za-z0-9_.-]{0,255}$/.test(text) ? 'graph-def' : undefined;
    }
    return undefined;
  } catch {
    return undefined;
  }
}

function readField(
  bytes: Uint8Array,
  at: number,
): { number: number; wire: number; value: number; start: number; end: number; next: number } | undefined {
  const tag = headVarint(bytes, at);
  if (!tag) return undefined;
  const number = Math.floor(tag.value / 8);
  const wire = tag.value % 8;
  if (number === 0) return undefined;
  if (wire === 0) {
    const v = headVarint(bytes, tag.end);
    return v ? { number, wire, value: v.value, start: tag.end, end: v.end, next: v.end } : undefined;
  }
  if (wire !== 2) return undefined;
  const length = headVarint(bytes, tag.end);
  if (!length) return undefined;
  const end = length.end + length.value;
  return { number, wire, value: length.value, start: length.end, end, next: end };
}

function headVarint(bytes: Uint8Array, at: number): { value: number; end: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = at; i < bytes.length && i < at + 10; i++) {
    value += (bytes[i]! & 0x7f) * scale;
    scale *= 128;
    if ((bytes[i]! & 0x80) === 0) return Number.isSafeInteger(value) ? { value, end: i + 1 } : undefined;
  }
  return undefined;
}
