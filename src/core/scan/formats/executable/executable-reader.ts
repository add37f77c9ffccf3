import type { ScanContext } from '../../context.js';
import { ascii, startsWith } from '../../format-reader.js';

/** What kind of native executable the head starts, if any. */
export function nativeExecutable(head: Uint8Array): string | undefined {
  if (
    startsWith(head, [0x7f, ...ascii('ELF')]) &&
    (head[4] === 1 || head[4] === 2) &&
    (head[5] === 1 || head[5] === 2) &&
    head[6] === 1
  ) {
    return 'an ELF executable or shared library';
  }
  if (startsWith(head, ascii('MZ')) && head.length >= 0x40) {
    const peOffset = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(0x3c, true);
    if (startsWith(head, ascii('PE\0\0'), peOffset)) return 'a Windows PE executable or DLL';
  }
  const machO = [
    [0xfe, 0xed, 0xfa, 0xce],
    [0xce, 0xfa, 0xed, 0xfe],
    [0xfe, 0xed, 0xfa, 0xcf],
    [0xcf, 0xfa, 0xed, 0xfe],
  ];
  if (machO.some((magic) => startsWith(head, magic))) return 'a Mach-O executable or library';
  // Universal binaries share CAFEBABE with Java classes; a class file has its version (>= 45) there.
  if (startsWith(head, [0xca, 0xfe, 0xba, 0xbe]) && head.length >= 8) {
    const count = new DataView(head.buffer, head.byteOffset, 8).getUint32(4, false);
    if (count >= 1 && count < 30) return 'a Mach-O universal binary';
  }
  return undefined;
}

/** The interpreter a `#!` line names, if the head is a script with one. */
export function shebang(head: Uint8Array): string | undefined {
  if (!startsWith(head, ascii('#!'))) return undefined;
  const line = new TextDecoder().decode(head.subarray(2, Math.min(head.length, 258))).split('\n')[0]!;
  const interpreter = line.trim();
  return interpreter.startsWith('/') ? interpreter.slice(0, 120) : undefined;
}

/**
 * Native executables and scripts with an interpreter line inside a container. No model loader
 * needs one inside a model archive: they are there to be run by something else (a handler, a
 * setup step, a user). Called for every member; the member is still scanned by content after.
 */
export function reportExecutable(head: Uint8Array, context: ScanContext): void {
  const native = nativeExecutable(head);
  const member = JSON.stringify(context.name);
  if (native) context.report('nativeExecutable', `member ${member} is ${native}`);
  else {
    const interpreter = shebang(head);
    if (interpreter)
      context.report('script', `member ${member} is a script run by ${JSON.stringify(interpreter)}`);
  }
}
