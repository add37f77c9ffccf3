import { type ByteSource, readAllBounded } from '../../../source.js';
import type { ScanContext } from '../../context.js';
import { ascii, type FormatReader, headBytes, startsWith } from '../../format-reader.js';
import { inspectKerasConfig } from './keras-config.js';

const signature = [0x89, ...ascii('HDF\r\n\x1a\n')];

/** HDF5 files are loaded whole into the library's in-memory file system up to this size. */
export const maxHdf5Bytes = 256 * 2 ** 20;
/** Groups, datasets and links walked for links to other files. */
const maxObjects = 100_000;
const maxGroupDepth = 64;

/**
 * libhdf5 finds the superblock at offset 0, 512, 1024, 2048... (a user block before it); the head
 * is searched, and random-access files further out.
 */
async function superblockOffset(head: Uint8Array, source: ByteSource): Promise<number | undefined> {
  if (startsWith(head, signature)) return 0;
  let at = 512;
  for (; at + 8 <= head.length; at *= 2) if (startsWith(head, signature, at)) return at;
  const random = source.random;
  if (!random || random.size <= headBytes) return undefined;
  for (; at + 8 <= random.size; at *= 2) {
    if (startsWith(await random.read(at, 8), signature)) return at;
  }
  return undefined;
}

interface H5Module {
  ready: Promise<{ FS: EmscriptenFs }>;
  File: new (name: string, mode: 'r') => H5File;
}
interface EmscriptenFs {
  writeFile(path: string, data: Uint8Array, options?: { canOwn?: boolean }): void;
  unlink(path: string): void;
}
interface H5Attribute {
  value: unknown;
}
interface H5Group {
  attrs: Record<string, H5Attribute>;
  keys(): string[];
  get_type(path: string): number;
  get_external_link(path: string): { filename: string; obj_path: string };
}
interface H5File extends H5Group {
  close(): unknown;
}

let loaded: Promise<{ h5: H5Module; fs: EmscriptenFs; types: Record<string, number> }> | undefined;
let fileCounter = 0;

/** h5wasm (libhdf5 compiled to WebAssembly) is loaded on the first HDF5 file. */
function loadLibrary() {
  loaded ??= (async () => {
    const h5 = (await import('h5wasm/node')) as unknown as H5Module;
    const module = (await h5.ready) as unknown as {
      FS: EmscriptenFs;
      activate_throwing_error_handler(): number;
    } & Record<string, number>;
    // libhdf5 prints its error stack by default; the core never prints, so errors become exceptions.
    module.activate_throwing_error_handler();
    return {
      h5,
      fs: module.FS,
      types: {
        group: module.H5G_GROUP!,
        dataset: module.H5G_DATASET!,
        udlink: module.H5G_UDLINK!,
      },
    };
  })();
  return loaded;
}

/**
 * HDF5 (Keras 2 `.h5` models, Keras 3 `model.weights.h5`): the root attributes `model_config`
 * and `training_config` are Keras configs and are inspected like `config.json`; the group tree is
 * walked for links to other files. Dataset contents are never read.
 */
export const hdf5Reader: FormatReader = {
  id: 'hdf5',
  description: 'HDF5 file',
  detect: async (head, source) => (await superblockOffset(head, source)) !== undefined,
  async scan(source, context) {
    const where = 'HDF5 file';
    const size = source.size;
    const bytes = await readAllBounded(source, maxHdf5Bytes);
    if (!bytes) {
      context.report(
        'kerasUnreadable',
        `HDF5 file${size === undefined ? '' : ` of ${size} bytes`} is larger than ${maxHdf5Bytes} bytes; its attributes (a Keras model config) were not inspected`,
      );
      context.partial();
      return undefined;
    }
    const { h5, fs, types } = await loadLibrary();
    const path = `/scan-${++fileCounter}.h5`;
    let file: H5File | undefined;
    let attributes: Record<string, unknown> = {};
    const external: string[] = [];
    let truncatedWalk = false;
    try {
      // The library finds a superblock after a user block itself, as h5py does.
      fs.writeFile(path, bytes, { canOwn: true });
      try {
        file = new h5.File(path, 'r');
      } catch {
        context.report(
          'kerasUnreadable',
          'HDF5 file cannot be opened by libhdf5; its attributes were not inspected',
        );
        context.partial();
        return undefined;
      }
      attributes = readAttributes(file, context);
      truncatedWalk = !walkLinks(file, types, external);
    } finally {
      try {
        file?.close();
      } catch {
        // a damaged file may fail to close; its memory goes with the unlinked node
      }
      try {
        fs.unlink(path);
      } catch {
        // not created
      }
    }
    for (const link of external) {
      context.report('kerasExternalLink', link);
    }
    if (truncatedWalk) {
      context.report(
        'kerasUnreadable',
        `HDF5 file has more than ${maxObjects} objects or groups nested deeper than ${maxGroupDepth}; the rest of its links were not inspected`,
      );
      context.partial();
    }
    let keras = false;
    for (const name of ['model_config', 'training_config']) {
      const text = attributes[name];
      if (text === undefined) continue;
      keras = true;
      if (typeof text !== 'string') {
        context.report(
          'kerasUnreadable',
          `HDF5 attribute ${name} is not a string; the Keras config was not inspected`,
        );
        continue;
      }
      let config: unknown;
      try {
        config = JSON.parse(text);
      } catch {
        context.report(
          'kerasUnreadable',
          `HDF5 attribute ${name} is not valid JSON; the Keras config was not inspected`,
        );
        context.partial();
        continue;
      }
      inspectKerasConfig(config, context, `${where} attribute ${name}`);
    }
    const weights =
      'model_weights' in attributes || 'layer_names' in attributes || attributes.keras_version !== undefined;
    return keras ? { format: 'keras-h5' } : weights ? { format: 'keras-weights-h5' } : undefined;
  },
};

function readAttributes(file: H5File, context: ScanContext): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let attrs: Record<string, H5Attribute>;
  try {
    attrs = file.attrs;
  } catch {
    context.report(
      'kerasUnreadable',
      'HDF5 root attributes cannot be read; a Keras model config was not inspected',
    );
    context.partial();
    return out;
  }
  for (const name of Object.keys(attrs)) {
    if (name !== 'model_config' && name !== 'training_config' && name !== 'keras_version') {
      out[name] = true;
      continue;
    }
    try {
      const value = attrs[name]!.value;
      out[name] = value instanceof Uint8Array ? new TextDecoder().decode(value) : value;
    } catch {
      context.report(
        'kerasUnreadable',
        `HDF5 attribute ${name} cannot be read; the Keras config was not inspected`,
      );
      context.partial();
    }
  }
  return out;
}

/**
 * Walks groups by name without following soft links (which may form cycles), collecting external
 * links and virtual datasets. False when cut short.
 */
function walkLinks(file: H5File, types: Record<string, number>, external: string[]): boolean {
  const stack: { path: string; depth: number }[] = [{ path: '/', depth: 0 }];
  let seen = 0;
  while (stack.length > 0) {
    const { path, depth } = stack.pop()!;
    let names: string[];
    try {
      names = (path === '/' ? file : groupAt(file, path)).keys();
    } catch {
      continue;
    }
    for (const name of names) {
      if (++seen > maxObjects) return false;
      const child = path === '/' ? `/${name}` : `${path}/${name}`;
      let type: number;
      try {
        type = file.get_type(child);
      } catch {
        continue;
      }
      if (type === types.udlink) {
        let target = '';
        try {
          const link = file.get_external_link(child);
          target = ` to ${JSON.stringify(`${link.filename}:${link.obj_path}`)}`;
        } catch {
          // a user-defined link of another class
        }
        external.push(
          `HDF5 object ${JSON.stringify(child)} is an external link${target}: loading it opens another file`,
        );
      } else if (type === types.dataset) {
        const sources = virtualSources(file, child);
        if (sources.length > 0) {
          external.push(
            `HDF5 dataset ${JSON.stringify(child)} is a virtual dataset mapped from ${sources.map((f) => JSON.stringify(f)).join(', ')}: reading it opens other files`,
          );
        }
      } else if (type === types.group) {
        if (depth + 1 > maxGroupDepth) return false;
        stack.push({ path: child, depth: depth + 1 });
      }
    }
  }
  return true;
}

/** The files a virtual dataset maps its data from (opening the dataset reads no data). */
function virtualSources(file: H5File, path: string): string[] {
  try {
    const entity = (
      file as unknown as {
        get(path: string): { metadata?: { virtual_sources?: { file_name: string }[] } } | null;
      }
    ).get(path);
    return [...new Set((entity?.metadata?.virtual_sources ?? []).map((source) => source.file_name))];
  } catch {
    return [];
  }
}

function groupAt(file: H5File, path: string): H5Group {
  const entity = (file as unknown as { get(path: string): unknown }).get(path);
  if (!entity || typeof (entity as H5Group).keys !== 'function') throw new Error('not a group');
  return entity as H5Group;
}
