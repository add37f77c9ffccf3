/** DSSE pre-authentication encoding and the payload and bundle types OMS signatures use. */

export const inTotoPayloadType = 'application/vnd.in-toto+json';
export const sigstoreBundleMediaType = 'application/vnd.dev.sigstore.bundle.v0.3+json';

/** `DSSEv1 SP len(type) SP type SP len(body) SP body`, lengths in bytes: what is actually signed. */
export function pae(payloadType: string, body: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'ascii'),
    type,
    Buffer.from(` ${body.length} `, 'ascii'),
    body,
  ]);
}

/**
 * The encoding model_signing v0.2 signed by mistake: capital V and the body as Python's
 * `repr(bytes)`. Kept for verifying signatures of that version only; never used to sign.
 */
export function paeCompat(payloadType: string, body: Uint8Array): Buffer {
  return Buffer.from(
    `DSSEV1 ${Buffer.byteLength(payloadType)} ${payloadType} ${body.length} ${pythonBytesRepr(body)}`,
    'utf8',
  );
}

/** Python 3's `repr(b'...')`. */
export function pythonBytesRepr(bytes: Uint8Array): string {
  const single = 0x27;
  const double = 0x22;
  const quote = bytes.includes(single) && !bytes.includes(double) ? '"' : "'";
  let out = `b${quote}`;
  for (const byte of bytes) {
    if (byte === 0x5c) out += '\\\\';
    else if (byte === quote.charCodeAt(0)) out += `\\${quote}`;
    else if (byte === 0x09) out += '\\t';
    else if (byte === 0x0a) out += '\\n';
    else if (byte === 0x0d) out += '\\r';
    else if (byte < 0x20 || byte >= 0x7f) out += `\\x${byte.toString(16).padStart(2, '0')}`;
    else out += String.fromCharCode(byte);
  }
  return `${out}${quote}`;
}
