import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  X509Certificate,
} from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { MlsecError } from '../core/errors.js';
import { nodeCurveName, type SigningCurve } from '../core/sign/keys.js';

const maxKeyFileBytes = 1 << 20;
const pemBlock = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

async function readSmall(path: string, what: string): Promise<Buffer> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) throw new MlsecError('INPUT_NOT_FOUND', `no such ${what}: ${path}`);
  if (info.size > maxKeyFileBytes)
    throw new MlsecError('INPUT_INVALID', `${path} is too large to be a ${what}`);
  return readFile(path);
}

/** Group or world access to a private key is worth a warning, as ssh gives one. */
export async function permissiveModeWarning(path: string): Promise<string | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (!info || (info.mode & 0o077) === 0) return undefined;
  return `warning: private key ${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`;
}

/**
 * A PEM private key; an encrypted one needs `passphrase`. The key's bytes never reach a message:
 * parse failures are reported by path alone.
 */
export async function readPrivateKey(path: string, passphrase?: string): Promise<KeyObject> {
  const pem = await readSmall(path, 'private key');
  try {
    return createPrivateKey(passphrase === undefined ? { key: pem } : { key: pem, passphrase });
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    if (
      /PASSPHRASE|BAD_DECRYPT|INTERRUPTED_OR_CANCELLED/i.test(code) ||
      /passphrase|decrypt/i.test(String(error))
    ) {
      throw new MlsecError(
        'INPUT_INVALID',
        `cannot decrypt private key ${path}: wrong or missing passphrase`,
      );
    }
    throw new MlsecError('INPUT_INVALID', `${path} is not a PEM private key`);
  }
}

/** A PEM public key, or the public key of a PEM private key or certificate. */
export async function readPublicKey(path: string): Promise<KeyObject> {
  const text = (await readSmall(path, 'public key')).toString('utf8');
  const block = [...text.matchAll(pemBlock)].find((m) => !/PRIVATE/.test(m[1]!));
  try {
    if (block?.[1] === 'CERTIFICATE') return new X509Certificate(block[0]).publicKey;
    return createPublicKey(block?.[0] ?? text);
  } catch {
    throw new MlsecError('INPUT_INVALID', `${path} is not a PEM public key`);
  }
}

/** Every certificate in a PEM file, in order; text around the blocks (certtool's) is skipped. */
export async function readCertificates(path: string): Promise<X509Certificate[]> {
  const text = (await readSmall(path, 'certificate file')).toString('utf8');
  const certificates = [...text.matchAll(pemBlock)].filter((m) => m[1] === 'CERTIFICATE');
  if (certificates.length === 0) throw new MlsecError('INPUT_INVALID', `${path} holds no PEM certificate`);
  return certificates.map((m) => {
    try {
      return new X509Certificate(m[0]);
    } catch {
      throw new MlsecError('INPUT_INVALID', `${path} holds a malformed certificate`);
    }
  });
}

/** Writes a new key pair: the private key 0600 (encrypted when a passphrase is given), never over a file. */
export async function writeKeyPair(
  privatePath: string,
  publicPath: string,
  curve: SigningCurve,
  passphrase?: string,
  overwrite = false,
): Promise<{ publicKey: KeyObject }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: nodeCurveName[curve] });
  const privatePem = privateKey.export(
    passphrase === undefined
      ? { type: 'pkcs8', format: 'pem' }
      : { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase },
  );
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' });
  for (const path of [privatePath, publicPath]) {
    if (!overwrite && (await stat(path).catch(() => undefined))) {
      throw new MlsecError('OUTPUT_UNWRITABLE', `${path} exists; not overwriting a key (use --force)`);
    }
  }
  try {
    if (overwrite) await Promise.all([rm(privatePath, { force: true }), rm(publicPath, { force: true })]);
    // wx: a link planted at the path is never followed; the private key is 0600 from its first byte.
    await writeFile(privatePath, privatePem, { mode: 0o600, flag: 'wx' });
    await writeFile(publicPath, publicPem, { mode: 0o644, flag: 'wx' });
  } catch (error) {
    throw new MlsecError('OUTPUT_UNWRITABLE', `cannot write the key pair: ${(error as Error).message}`);
  }
  return { publicKey };
}
