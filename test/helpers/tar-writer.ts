const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));
const octal = (value: number, width: number) => ascii(`${value.toString(8).padStart(width - 1, '0')}\0`);

/** One ustar header for `name` (raw bytes, up to 100) and `size`, with a valid checksum. */
export function tarHeader(name: Uint8Array, size: number): Uint8Array {
  const header = new Uint8Array(512);
  header.set(name.subarray(0, 100), 0);
  header.set(octal(0o644, 8), 100);
  header.set(octal(0, 8), 108);
  header.set(octal(0, 8), 116);
  header.set(octal(size, 12), 124);
  header.set(octal(0, 12), 136);
  header.set(ascii('        '), 148);
  header[156] = 0x30;
  header.set(ascii('ustar\x0000'), 257);
  const sum = header.reduce((a, b) => a + b, 0);
  header.set(ascii(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
  return header;
}

/** A plain ustar archive of regular files. */
export function tarArchive(files: { name: string; data: Uint8Array }[]): Uint8Array {
  const parts: number[] = [];
  for (const { name, data } of files) {
    parts.push(...tarHeader(Uint8Array.from(ascii(name)), data.length), ...data);
    parts.push(...new Array((512 - (data.length % 512)) % 512).fill(0));
  }
  parts.push(...new Array(1024).fill(0));
  return Uint8Array.from(parts);
}
