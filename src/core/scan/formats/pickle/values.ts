/** Abstract values of the pickle machine: enough to know what gets called with what. */
export type Value =
  | { k: 'str'; v: string; whole: boolean }
  | { k: 'bytes'; data: Uint8Array | null; length: number; offset: number }
  | { k: 'int'; v: number }
  | { k: 'long'; raw: Uint8Array | null; big?: bigint }
  | { k: 'scalar' }
  | { k: 'global'; module: string; name: string; offset: number; dynamic: boolean }
  | CallValue
  | ({ k: 'seq'; kind: 'tuple' | 'list' | 'set' | 'frozenset'; items: Value[]; count: number } & Shape)
  | ({ k: 'dict'; entries: [Value, Value][]; count: number } & Shape)
  | PersidValue
  | { k: 'ext'; code: number; offset: number }
  | { k: 'opaque'; what: string };

/**
 * How big a value is when fully traversed (shared references counted each time, as repr, copy
 * and comparison count them) and how deeply it nests; both saturate.
 */
export interface Shape {
  size: number;
  depth: number;
}

export interface CallValue extends Shape {
  k: 'call';
  fn: Value;
  args: Value;
  offset: number;
  /** The state BUILD gave this object, for the reconstructors that read it (joblib, dtype). */
  state?: Value;
  /** A callable planted as `__setstate__` by an earlier BUILD. */
  setstate?: Value;
}

/**
 * The object a loader's `persistent_load` returns. `resolves` is the value it hands back when
 * some loader returns part of the persistent id itself (legacy `torch.save` pickles a module's
 * class inside its id); undefined when no loader turns the id into a callable.
 */
export interface PersidValue {
  k: 'persid';
  offset: number;
  resolves?: Value;
}

export const scalar: Value = { k: 'scalar' };

export function sizeOf(value: Value): number {
  return value.k === 'seq' || value.k === 'dict' || value.k === 'call' ? value.size : 1;
}

export function depthOf(value: Value): number {
  return value.k === 'seq' || value.k === 'dict' || value.k === 'call' ? value.depth : 0;
}

/** Items kept per container; the count still covers all of them. */
export const keptItems = 64;

export function globalPath(value: Value): string | undefined {
  return value.k === 'global' ? `${value.module}.${value.name}` : undefined;
}

/** The global a call was made on, when it was a plain global. */
export function calleePath(value: Value): string | undefined {
  return value.k === 'call' ? globalPath(value.fn) : undefined;
}

export function tupleItems(value: Value): Value[] | undefined {
  return value.k === 'seq' && value.kind === 'tuple' ? value.items : undefined;
}

export function describe(value: Value, depth = 0): string {
  if (depth > 2) return '…';
  switch (value.k) {
    case 'global':
      return value.dynamic ? 'a computed global' : `${value.module}.${value.name}`;
    case 'call': {
      const fn = describe(value.fn, depth + 1);
      return `the result of ${fn}(…)`;
    }
    case 'persid':
      return 'a persistent-id object';
    case 'ext':
      return `extension code ${value.code}`;
    case 'str':
      return 'a string';
    case 'bytes':
      return 'bytes';
    case 'seq':
      return `a ${value.kind}`;
    case 'dict':
      return 'a dict';
    default:
      return 'a value';
  }
}
