import type { ScanContext } from '../../context.js';
import type { RuleKey } from '../../rules.js';
import { checkpointOps, dangerousOps, debugOps, tableFileOps } from './ops.js';
import type { SaverDef, SignatureDefEntry } from './proto.js';

export interface NodeInfo {
  name: string;
  op: string;
  inputs: string[];
  /** Functions named by attributes (`f` of a call, branches and bodies of control flow). */
  calls: string[];
  strings: { key: string; value: string }[];
  /** String contents of a Const's `value`. */
  constStrings: string[];
}

export interface FunctionInfo {
  name: string;
  nodes: NodeInfo[];
}

/** One graph: a MetaGraphDef of a SavedModel, or a frozen GraphDef. */
export interface GraphModel {
  savedModel: boolean;
  top: NodeInfo[];
  functions: Map<string, FunctionInfo>;
  saver: SaverDef | undefined;
  signatures: SignatureDefEntry[];
  signatureUnread: boolean;
  nodeCount: number;
  /** One string per op name, shared by all nodes. */
  opNames: Map<string, string>;
}

/** Ops whose node is reported or whose attributes decide a report. */
export function isJudged(op: string): boolean {
  return (
    dangerousOps.has(op) ||
    checkpointOps.has(op) ||
    tableFileOps.has(op) ||
    debugOps.has(op) ||
    op === 'PrintV2'
  );
}

export function newGraphModel(): GraphModel {
  return {
    savedModel: false,
    top: [],
    functions: new Map(),
    saver: undefined,
    signatures: [],
    signatureUnread: false,
    nodeCount: 0,
    opNames: new Map(),
  };
}

/** `^name` (control input), `name:1`, `name:output:0` (inside functions) → `name`. */
function nodeOf(tensor: string): string {
  const name = tensor.startsWith('^') ? tensor.slice(1) : tensor;
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(0, colon);
}

/** Nodes of the top-level graph that `roots` depend on, through data and control inputs. */
function upstream(byName: Map<string, NodeInfo>, roots: Iterable<string>): Set<string> {
  const seen = new Set<string>();
  const stack = [...roots].map(nodeOf);
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (seen.has(name)) continue;
    const node = byName.get(name);
    if (!node) continue;
    seen.add(name);
    for (const input of node.inputs) stack.push(nodeOf(input));
  }
  return seen;
}

function callees(graph: GraphModel, node: NodeInfo): string[] {
  return graph.functions.has(node.op) ? [node.op, ...node.calls] : node.calls;
}

/** Functions called, directly or through other functions, by `nodes`. */
function reachable(graph: GraphModel, nodes: Iterable<NodeInfo>): Set<string> {
  const seen = new Set<string>();
  const stack: string[] = [];
  for (const node of nodes) stack.push(...callees(graph, node));
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (seen.has(name)) continue;
    const fn = graph.functions.get(name);
    if (!fn) continue;
    seen.add(name);
    for (const node of fn.nodes) stack.push(...callees(graph, node));
  }
  return seen;
}

interface Site {
  node: NodeInfo;
  fn: FunctionInfo | undefined;
  serving: boolean;
  saver: boolean;
}

/**
 * Judges every op of the graph and of every function in its library. Checkpoint ops are
 * expected where the SaverDef points (the saver's nodes and the functions they call: the traced
 * save and restore functions of a TF2 SavedModel, the `save/` scope of a TF1 graph); there they
 * are not reported, unless the same function is also reachable from a serving signature. Anywhere
 * else (a serving signature, a function the object graph exposes, a frozen graph) they are high.
 */
export function analyseGraph(graph: GraphModel, context: ScanContext): void {
  const byName = new Map(graph.top.map((n) => [n.name, n]));
  const saverRoots = graph.saver
    ? [graph.saver.saveTensorName, graph.saver.restoreOpName].filter((name) => name !== '')
    : [];
  const saverTop = upstream(byName, saverRoots);
  const signatureTensors = graph.signatures.flatMap((s) => [
    ...Object.values(s.value?.inputs ?? {}).map((t) => t.name),
    ...Object.values(s.value?.outputs ?? {}).map((t) => t.name),
  ]);
  // Without signatures (a frozen graph, or a SignatureDef too large to read) any node may be run.
  const wholeGraphServes = signatureTensors.length === 0 || graph.signatureUnread;
  const servingTop = wholeGraphServes
    ? new Set(graph.top.filter((n) => !saverTop.has(n.name)).map((n) => n.name))
    : upstream(byName, signatureTensors);
  const saverFns = reachable(
    graph,
    graph.top.filter((n) => saverTop.has(n.name)),
  );
  const servingFns = reachable(
    graph,
    graph.top.filter((n) => servingTop.has(n.name)),
  );

  const findings = new Map<string, { rule: RuleKey; message: string; count: number }>();
  const report = (rule: RuleKey, key: string, message: string) => {
    const existing = findings.get(key);
    if (existing) existing.count++;
    else findings.set(key, { rule, message, count: 1 });
  };

  const sites: Site[] = [
    ...graph.top.map((node) => ({
      node,
      fn: undefined,
      serving: servingTop.has(node.name),
      saver: saverTop.has(node.name),
    })),
    ...[...graph.functions.values()].flatMap((fn) =>
      fn.nodes.map((node) => ({ node, fn, serving: servingFns.has(fn.name), saver: saverFns.has(fn.name) })),
    ),
  ];
  const constants = (fn: FunctionInfo | undefined) =>
    new Map((fn?.nodes ?? graph.top).map((n) => [n.name, n]));
  const cache = new Map<FunctionInfo | undefined, Map<string, NodeInfo>>();
  const pathOf = (site: Site): string | undefined => {
    let scope = cache.get(site.fn);
    if (!scope) {
      scope = constants(site.fn);
      cache.set(site.fn, scope);
    }
    // The path is the first input of file ops, the second of table initialisers (after the table).
    const input = site.node.inputs[tableFileOps.has(site.node.op) ? 1 : 0];
    const source = input === undefined ? undefined : scope.get(nodeOf(input));
    return source?.op === 'Const' ? source.constStrings[0] : undefined;
  };

  for (const site of sites) {
    const { node } = site;
    const where = site.fn
      ? `node ${JSON.stringify(node.name)} of function ${JSON.stringify(site.fn.name)}`
      : `node ${JSON.stringify(node.name)}`;
    const path = pathOf(site);
    const onPath = path === undefined ? '' : ` (${JSON.stringify(path)})`;
    const danger = dangerousOps.get(node.op);
    if (danger) {
      report('tfDangerousOp', `op:${node.op}`, `op ${node.op} ${danger}${onPath}: ${where}`);
      continue;
    }
    const checkpoint = checkpointOps.get(node.op);
    if (checkpoint) {
      if (site.saver && !site.serving && path === undefined) continue;
      const why = site.serving
        ? graph.savedModel && !wholeGraphServes
          ? 'runs when a serving signature is called'
          : 'runs with the graph'
        : site.saver
          ? 'uses a fixed path instead of the checkpoint the loader names'
          : site.fn
            ? 'is outside the functions the SaverDef names'
            : 'is outside the nodes the SaverDef names';
      report(
        'tfCheckpointOp',
        `ckpt:${node.op}:${why}`,
        `checkpoint op ${node.op} ${checkpoint}${onPath} and ${why}: ${where}`,
      );
      continue;
    }
    if (tableFileOps.has(node.op)) {
      if (path !== undefined && isOutsideModel(path)) {
        report(
          'tfDangerousOp',
          `table:${node.op}`,
          `op ${node.op} reads files (${JSON.stringify(path)}): ${where}`,
        );
      } else {
        report(
          'tfTableFile',
          `table:${node.op}`,
          `op ${node.op} initialises a lookup table from a file${onPath}: ${where}`,
        );
      }
      continue;
    }
    if (debugOps.has(node.op)) {
      const url = node.strings.find((s) => s.value.includes('://'));
      if (url) {
        report(
          'tfDangerousOp',
          `debug:${node.op}`,
          `op ${node.op} sends tensors to ${JSON.stringify(url.value)}: ${where}`,
        );
      }
      continue;
    }
    if (node.op === 'PrintV2') {
      const stream = node.strings.find((s) => s.key === 'output_stream' && s.value.startsWith('file://'));
      if (stream) {
        report(
          'tfDangerousOp',
          `print:${node.op}`,
          `op PrintV2 appends to the file ${JSON.stringify(stream.value)}: ${where}`,
        );
      }
    }
  }
  for (const { rule, message, count } of findings.values()) {
    context.report(rule, message, { count });
  }
}

/** A path that is not relative to the model's directory (TensorFlow accepts URLs: gs://, s3://). */
function isOutsideModel(path: string): boolean {
  const normal = path.replaceAll('\\', '/');
  return (
    normal.startsWith('/') ||
    /^[A-Za-z]:/.test(normal) ||
    normal.includes('://') ||
    normal.split('/').includes('..')
  );
}
