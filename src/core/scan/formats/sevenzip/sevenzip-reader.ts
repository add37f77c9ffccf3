import { bufferSource, readAllBounded } from '../../../source.js';
import type { ScanContext } from '../../context.js';
import { type FormatReader, startsWith } from '../../format-reader.js';
import { isUnsafePath, reportEntryLimit } from '../zip/zip-reader.js';

/** The 7z signature: '7z' BC AF 27 1C. */
const signature = [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c];

interface SevenZipMember {
  path: string;
  size: number;
  packedSize: number | undefined;
  folder: boolean;
  encrypted: boolean;
}

interface SevenZipRun {
  code: number;
  lines: string[];
}

/** What 7-Zip (compiled to WebAssembly) needs: an in-memory file system and its command line. */
interface SevenZipModule {
  FS: {
    createDataFile(
      parent: string,
      name: string,
      data: Uint8Array,
      read: boolean,
      write: boolean,
      own: boolean,
    ): void;
    readFile(path: string): Uint8Array;
    unlink(path: string): void;
    mkdir(path: string): void;
    readdir(path: string): string[];
    stat(path: string): { mode: number; size: number };
    isDir(mode: number): boolean;
    isFile(mode: number): boolean;
  };
  callMain(args: string[]): number | undefined;
}

/**
 * 7z archives, read by 7-Zip itself (the `7z-wasm` build of 7-Zip 24.09) over an in-memory file
 * system: no file is written to disk and nothing outside the archive is reachable. 7-Zip has no
 * streaming interface, so the archive and its unpacked members are held in memory: an archive, or
 * a sum of declared member sizes, over `maxBufferedContainerBytes` is not opened and stays a
 * fail-closed finding, as do encrypted members and encrypted headers.
 */
export const sevenZipReader: FormatReader = {
  id: '7z',
  description: '7-Zip archive',
  detect: (head) => startsWith(head, signature),
  async scan(source, context) {
    const cap = context.limits.maxBufferedContainerBytes;
    const bytes = await readAllBounded(source, cap);
    if (!bytes) {
      return refuse(
        context,
        `7-Zip archive is larger than ${cap} bytes and was not opened; unpack it and scan the content`,
      );
    }
    const output: string[] = [];
    const module = await loadSevenZip(output);
    // The file system takes the buffer over instead of copying it.
    module.FS.createDataFile('/', 'archive.7z', bytes, true, false, true);
    const run = (args: string[]): SevenZipRun => {
      output.length = 0;
      let code: number;
      try {
        // A password nobody chose: 7-Zip fails on encrypted data instead of prompting for one.
        code =
          module.callMain([
            ...args,
            '-pmlsec-no-password',
            '-sccUTF-8',
            '-bso1',
            '-bse1',
            '-bsp0',
            '/archive.7z',
          ]) ?? 0;
      } catch {
        code = 2;
      }
      return { code, lines: output.splice(0) };
    };

    const listing = run(['l', '-slt']);
    const members = parseListing(listing.lines);
    if (listing.code !== 0 || !members) {
      const encrypted =
        listing.lines.some((line) => /encrypted|wrong password/i.test(line)) || hasEncryptedHeader(bytes);
      return refuse(
        context,
        encrypted
          ? '7-Zip archive has encrypted headers: its member list cannot be read'
          : '7-Zip archive is damaged: its member list cannot be read',
        !encrypted,
      );
    }
    if (members.length > context.limits.maxArchiveEntries) {
      reportEntryLimit(context, '7-Zip', members.length);
      return { format: '7z' };
    }
    let total = 0;
    let encrypted = 0;
    for (const member of members) {
      const label = JSON.stringify(member.path);
      if (isUnsafePath(member.path)) {
        context.report('unsafeMemberPath', `member ${label} would be extracted outside the target directory`);
      }
      if (member.encrypted) {
        encrypted++;
        context.report('unscannable', `member ${label} is encrypted and cannot be inspected`);
        context.partial();
      }
      if (!member.folder) total += member.size;
    }
    if (encrypted === members.length && members.length > 0) return { format: '7z' };
    if (total > cap) {
      return refuse(
        context,
        `7-Zip archive declares ${total} unpacked bytes, more than the ${cap} bytes that are unpacked in memory; unpack it and scan the content`,
      );
    }

    module.FS.mkdir('/out');
    const extraction = run(['x', '-o/out', '-y', '-snl-']);
    if (extraction.code !== 0 && encrypted === 0) {
      context.report(
        'damaged',
        '7-Zip reported errors while unpacking the archive; what it unpacked is scanned',
      );
      context.partial();
    }
    const encryptedPaths = new Set(members.filter((m) => m.encrypted).map((m) => m.path));
    for (const path of walk(module, '/out', '')) {
      if (encryptedPaths.has(path)) continue; // whatever 7-Zip wrote for it is not the member
      const member = module.FS.readFile(`/out/${path}`);
      module.FS.unlink(`/out/${path}`); // memory is given back member by member
      await context.nested(bufferSource(member), path);
    }
    return { format: '7z' };
  },
};

function refuse(context: ScanContext, message: string, damaged = false) {
  context.report(damaged ? 'damaged' : 'unscannable', message);
  context.partial();
  return { format: '7z' };
}

/** The AES-256 + SHA-256 coder of 7-Zip, as its id appears in a coder record. */
const aesCoder = [0x06, 0xf1, 0x07, 0x01];

/**
 * Whether the archive's header is encrypted: the start header points at the next header (offset
 * and size after the 12-byte signature header), which is then an encoded header whose coder is AES.
 * 7-Zip itself cannot list such an archive without the password.
 */
function hasEncryptedHeader(bytes: Uint8Array): boolean {
  if (bytes.length < 32) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const offset = 32 + Number(view.getBigUint64(12, true));
  const size = Number(view.getBigUint64(20, true));
  if (!Number.isSafeInteger(offset) || offset >= bytes.length || bytes[offset] !== 0x17) return false;
  const header = bytes.subarray(offset, Math.min(bytes.length, offset + Math.min(size, 4096)));
  outer: for (let i = 0; i + aesCoder.length <= header.length; i++) {
    for (let j = 0; j < aesCoder.length; j++) if (header[i + j] !== aesCoder[j]) continue outer;
    return true;
  }
  return false;
}

/** Unpacked files in 7-Zip's order of directories, depth first. */
function* walk(module: SevenZipModule, root: string, prefix: string): Generator<string> {
  const names = module.FS.readdir(prefix === '' ? root : `${root}/${prefix}`)
    .filter((name) => name !== '.' && name !== '..')
    .sort();
  for (const name of names) {
    const path = prefix === '' ? name : `${prefix}/${name}`;
    const { mode } = module.FS.stat(`${root}/${path}`);
    if (module.FS.isDir(mode)) yield* walk(module, root, path);
    else if (module.FS.isFile(mode)) yield path;
  }
}

/** `7z l -slt`: blocks of `Key = value` lines; members follow the `----------` line. */
export function parseListing(lines: readonly string[]): SevenZipMember[] | undefined {
  const start = lines.findIndex((line) => line.trim() === '----------');
  if (start < 0) return undefined;
  const members: SevenZipMember[] = [];
  let current: Record<string, string> | undefined;
  const flush = () => {
    if (current?.Path === undefined) return;
    members.push({
      path: current.Path,
      size: Number(current.Size ?? 0) || 0,
      packedSize: current['Packed Size'] ? Number(current['Packed Size']) : undefined,
      folder: current.Folder === '+' || (current.Attributes ?? '').startsWith('D'),
      encrypted: current.Encrypted === '+',
    });
  };
  for (const line of lines.slice(start + 1)) {
    const match = /^([A-Za-z ]+) = (.*)$/.exec(line);
    if (!match) continue;
    const [, key, value] = match as unknown as [string, string, string];
    if (key === 'Path') {
      flush();
      current = {};
    }
    if (current) current[key] = value;
  }
  flush();
  return members;
}

let factory: Promise<(options: object) => Promise<SevenZipModule>> | undefined;

/** A fresh instance per archive: WebAssembly memory never shrinks, so it is dropped with the archive. */
async function loadSevenZip(output: string[]): Promise<SevenZipModule> {
  factory ??= import('7z-wasm').then(
    (m) => m.default as unknown as (options: object) => Promise<SevenZipModule>,
  );
  const create = await factory;
  return create({
    print: (line: string) => output.push(line),
    printErr: (line: string) => output.push(line),
  });
}
