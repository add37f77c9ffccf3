import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { bufferAccess, cachedAccess, type RandomAccess, readAllBounded } from '../../../source.js';
import type { ScanContext } from '../../context.js';
import { DataError } from '../../data-error.js';
import type { FormatReader } from '../../format-reader.js';
import { type Field, fields, readString, smallMessage } from './protobuf-walk.js';

/** ModelProto fields and the wire type each must have (onnx/onnx.proto). */
const modelFields: ReadonlyMap<number, WireType> = new Map([
  [1, WireType.Varint], // ir_version
  [2, WireType.LengthDelimited], // producer_name
  [3, WireType.LengthDelimited], // producer_version
  [4, WireType.LengthDelimited], // domain
  [5, WireType.Varint], // model_version
  [6, WireType.LengthDelimited], // doc_string
  [7, WireType.LengthDelimited], // graph
  [8, WireType.LengthDelimited], // opset_import
  [14, WireType.LengthDelimited], // metadata_props
  [20, WireType.LengthDelimited], // training_info
  [25, WireType.LengthDelimited], // functions
  [26, WireType.LengthDelimited], // configuration
]);

/** Operator domains of the ONNX standard and of onnxruntime's own contrib operators. */
function ordinaryDomain(domain: string): boolean {
  return (
    domain === '' ||
    domain === 'ai.onnx' ||
    domain === 'ai.onnx.ml' ||
    domain === 'ai.onnx.training' ||
    domain === 'ai.onnx.preview.training' ||
    domain === 'com.microsoft' ||
    domain.startsWith('com.microsoft.')
  );
}

/** Operators that call a Python function the loading process looks up by name. */
const pythonOps = new Set(['PyOp', 'PythonOp', 'PythonOpGrad', 'PyFunc']);

/** Graphs inside attributes inside nodes: nesting past this is hostile. */
const maxGraphDepth = 32;
/** Messages walked in one model; a real model has a few per node. */
const maxMessages = 5_000_000;
const maxReportsPerRule = 20;

interface Walk {
  access: RandomAccess;
  context: ScanContext;
  messages: number;
  /** domain → op type → node count (at most 1,000 op types per domain kept). */
  domains: Map<string, Map<string, number>>;
  functions: { name: string; nodes: number }[];
  externals: { tensor: string; location: string | undefined }[];
  pythonNodes: { op: string; domain: string; name: string }[];
}

/**
 * ONNX ModelProto: no magic number, so a file is ONNX when its first fields are ModelProto
 * fields with the right wire types (ir_version first, as every writer puts it), and lengths
 * that fit the file (only the graph may run past it, after two sound fields: a truncated model).
 */
export function looksLikeOnnx(head: Uint8Array, size: number | undefined): boolean {
  if (head[0] !== 0x08) return false;
  const reader = new BinaryReader(head);
  const seen = new Set<number>();
  try {
    while (reader.pos < reader.len) {
      const [no, wire] = reader.tag();
      if (modelFields.get(no) !== wire) return false;
      seen.add(no);
      if (wire === WireType.Varint) {
        const value = BigInt(reader.uint64());
        if (no === 1 && (value < 1n || value > 100n)) return false;
        continue;
      }
      const length = Number(BigInt(reader.uint64()));
      if (size !== undefined && reader.pos + length > size) {
        // A truncated model still is one (the scan reports it), when its first fields were sound.
        return no === 7 && seen.size >= 3;
      }
      if (reader.pos + length > reader.len) break; // runs past the head: the rest is not checked
      reader.pos += length;
    }
  } catch {
    // a field cut by the end of the head
  }
  return seen.has(1) && (seen.has(7) || seen.has(8) || seen.has(25)) && seen.size >= 2;
}

export const onnxReader: FormatReader = {
  id: 'onnx',
  description: 'ONNX model',
  detect: (head, source) => looksLikeOnnx(head, source.size),
  async scan(source, context) {
    let direct = source.random;
    if (!direct) {
      const bytes = await readAllBounded(source, context.limits.maxBufferedContainerBytes);
      if (!bytes) {
        context.report(
          'onnxMalformed',
          `ONNX model inside a stream is larger than ${context.limits.maxBufferedContainerBytes} bytes; unpack it to scan it`,
        );
        context.partial();
        return undefined;
      }
      direct = bufferAccess(bytes);
    }
    const walk: Walk = {
      access: cachedAccess(direct, 64 * 1024, 16),
      context,
      messages: 0,
      domains: new Map(),
      functions: [],
      externals: [],
      pythonNodes: [],
    };
    try {
      await walkModel(walk, direct.size);
    } catch (error) {
      if (!(error instanceof DataError)) throw error;
      context.report(
        'onnxMalformed',
        `ONNX protobuf cannot be fully decoded: ${error.message}; what follows was not inspected`,
      );
      context.partial();
    }
    await report(walk);
    return undefined;
  },
};

async function walkModel(walk: Walk, size: number): Promise<void> {
  for await (const field of fields(walk.access, 0, size)) {
    if (field.wire !== WireType.LengthDelimited) continue;
    if (field.no === 7) await walkGraph(walk, field, 1);
    else if (field.no === 8) await opset(walk, field);
    else if (field.no === 20) {
      for await (const inner of message(walk, field)) {
        if (inner.no === 1 || inner.no === 2) await walkGraph(walk, inner, 1); // initialization, algorithm
      }
    } else if (field.no === 25) await walkFunction(walk, field);
  }
}

function message(walk: Walk, field: Field): AsyncGenerator<Field> {
  if (++walk.messages > maxMessages) {
    throw new DataError(`more than ${maxMessages} messages, the analysis limit`);
  }
  return fields(walk.access, field.start, field.end);
}

const isLen = (field: Field) => field.wire === WireType.LengthDelimited;

async function walkGraph(walk: Walk, graph: Field, depth: number): Promise<void> {
  if (depth > maxGraphDepth) throw new DataError(`graphs nested more than ${maxGraphDepth} deep`);
  for await (const field of message(walk, graph)) {
    if (!isLen(field)) continue;
    if (field.no === 1) await walkNode(walk, field, depth);
    else if (field.no === 5) await walkTensor(walk, field);
    else if (field.no === 15) await walkSparse(walk, field);
  }
}

async function walkSparse(walk: Walk, sparse: Field): Promise<void> {
  for await (const field of message(walk, sparse)) {
    if (isLen(field) && (field.no === 1 || field.no === 2)) await walkTensor(walk, field);
  }
}

async function walkNode(walk: Walk, node: Field, depth: number): Promise<void> {
  let op = '';
  let domain = '';
  let name = '';
  for await (const field of message(walk, node)) {
    if (!isLen(field)) continue;
    if (field.no === 4) op = await readString(walk.access, field, 256);
    else if (field.no === 7) domain = await readString(walk.access, field, 256);
    else if (field.no === 3) name = await readString(walk.access, field, 256);
    else if (field.no === 5) await walkAttribute(walk, field, depth);
  }
  const ops = walk.domains.get(domain) ?? new Map<string, number>();
  if (ops.size < 1000 || ops.has(op)) ops.set(op, (ops.get(op) ?? 0) + 1);
  walk.domains.set(domain, ops);
  if (pythonOps.has(op) && walk.pythonNodes.length < maxReportsPerRule + 1)
    walk.pythonNodes.push({ op, domain, name });
}

async function walkAttribute(walk: Walk, attribute: Field, depth: number): Promise<void> {
  for await (const field of message(walk, attribute)) {
    if (!isLen(field)) continue;
    if (field.no === 5 || field.no === 10)
      await walkTensor(walk, field); // t, tensors
    else if (field.no === 6 || field.no === 11)
      await walkGraph(walk, field, depth + 1); // g, graphs
    else if (field.no === 22 || field.no === 23) await walkSparse(walk, field); // sparse_tensor(s)
  }
}

async function walkTensor(walk: Walk, tensor: Field): Promise<void> {
  let name = '';
  let external = false;
  let location: string | undefined;
  for await (const field of message(walk, tensor)) {
    if (field.no === 14 && field.wire === WireType.Varint) external = field.value === 1n;
    else if (!isLen(field)) continue;
    else if (field.no === 8) name = await readString(walk.access, field, 256);
    else if (field.no === 13) {
      if (field.end - field.start > 1 << 20)
        throw new DataError('an external_data entry is larger than 1 MiB');
      const entry = smallMessage(await walk.access.read(field.start, field.end - field.start));
      if (entry.get(1) === 'location') location = String(entry.get(2) ?? '');
      external = true;
    }
  }
  if (external) walk.externals.push({ tensor: name, location });
}

async function walkFunction(walk: Walk, fn: Field): Promise<void> {
  let name = '';
  let domain = '';
  let nodes = 0;
  for await (const field of message(walk, fn)) {
    if (!isLen(field)) continue;
    if (field.no === 1) name = await readString(walk.access, field, 256);
    else if (field.no === 10) domain = await readString(walk.access, field, 256);
    else if (field.no === 7) {
      nodes++;
      await walkNode(walk, field, 1);
    } else if (field.no === 9) await opset(walk, field);
  }
  walk.functions.push({ name: domain ? `${domain}.${name}` : name, nodes });
}

/** Opset imports name domains too; a domain imported but unused is still a custom-op library to load. */
async function opset(walk: Walk, field: Field): Promise<void> {
  if (field.end - field.start > 1 << 20) throw new DataError('an opset_import entry is larger than 1 MiB');
  const entry = smallMessage(await walk.access.read(field.start, field.end - field.start));
  const domain = String(entry.get(1) ?? '');
  if (!walk.domains.has(domain)) walk.domains.set(domain, new Map());
}

/**
 * Why a location is outside the model's folder, from its text alone: onnx and onnxruntime join
 * it to the model's directory, so an absolute path, a drive, a scheme or `..` escapes it.
 */
export function unsafeLocation(location: string): string | undefined {
  if (location === '') return 'is empty';
  if (location.includes('\0')) return 'contains a NUL character';
  if (/^[A-Za-z]:/.test(location)) return 'names a drive';
  if (/^[A-Za-z][A-Za-z0-9+.-]+:/.test(location)) return 'has a URL scheme';
  if (location.startsWith('/') || location.startsWith('\\')) return 'is an absolute path';
  if (location.split(/[\\/]/).includes('..')) return 'climbs out of the model folder with ..';
  return undefined;
}

async function report(walk: Walk): Promise<void> {
  const { context } = walk;
  let escapes = 0;
  const checked = new Map<string, string | undefined>();
  for (const { tensor, location } of walk.externals) {
    let why = location === undefined ? 'has no location' : unsafeLocation(location);
    if (why === undefined && location !== undefined && context.outsideFolder) {
      if (!checked.has(location) && checked.size < 10_000)
        checked.set(location, await context.outsideFolder(location));
      why = checked.get(location);
    }
    if (why === undefined) continue;
    if (++escapes > maxReportsPerRule) continue;
    const where = location === undefined ? '' : ` ${JSON.stringify(location)}`;
    context.report(
      'onnxExternalData',
      `tensor ${JSON.stringify(tensor)} keeps its data at${where}, which ${why}: loading reads a file outside the model folder`,
    );
  }
  if (escapes > maxReportsPerRule) {
    context.report(
      'onnxExternalData',
      `${escapes - maxReportsPerRule} more tensors with external data outside the model folder`,
      { count: escapes - maxReportsPerRule },
    );
  }
  // Nodes that call a model-local function are not custom operators: the model defines them.
  const local = new Set(walk.functions.map((f) => f.name));
  const localDomains = new Set(
    walk.functions.map((f) => f.name.slice(0, Math.max(0, f.name.lastIndexOf('.')))),
  );
  for (const [domain, ops] of walk.domains) {
    if (ordinaryDomain(domain)) continue;
    const custom = [...ops].filter(([op]) => !local.has(`${domain}.${op}`));
    const count = custom.reduce((sum, [, n]) => sum + n, 0);
    if (count === 0 && (ops.size > 0 || localDomains.has(domain))) continue;
    const names = custom.slice(0, 5).map(([op]) => JSON.stringify(op));
    const what =
      count === 0
        ? 'is imported'
        : `is used by ${count} node${count === 1 ? '' : 's'} (${names.join(', ')}${custom.length > 5 ? ', ...' : ''})`;
    context.report(
      'onnxCustomDomain',
      `custom operator domain ${JSON.stringify(domain)} ${what}: its operators come from a library the loader must register`,
    );
  }
  for (const { op, domain, name } of walk.pythonNodes.slice(0, maxReportsPerRule)) {
    const qualified = domain ? `${domain}.${op}` : op;
    context.report(
      'onnxPythonOp',
      `node ${JSON.stringify(name)} is a ${qualified} operator, which calls a Python function the loading process looks up by name`,
    );
  }
  for (const { name, nodes } of walk.functions.slice(0, 100)) {
    context.report('onnxFunction', `model-local function ${JSON.stringify(name)} (${nodes} nodes)`);
  }
  if (walk.functions.length > 100) {
    context.report('onnxFunction', `${walk.functions.length - 100} more model-local functions`, {
      count: walk.functions.length - 100,
    });
  }
}
