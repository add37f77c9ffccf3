import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyCertificateChain } from '../../../src/core/sign/certificates.js';
import { tempDir } from '../../helpers/cli.js';

/** A root CA and a leaf it issues with the given extensions, made by openssl. */
async function chainWith(leafExtensions: string, leafName = 'leaf') {
  const dir = await tempDir();
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const key = (name: string) =>
    run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', name);
  key('root.key');
  key('leaf.key');
  run(
    'req',
    '-x509',
    '-new',
    '-key',
    'root.key',
    '-subj',
    '/CN=root',
    '-days',
    '30',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
    '-out',
    'root.pem',
  );
  writeFileSync(join(dir, 'leaf.cnf'), `basicConstraints=CA:FALSE\n${leafExtensions}\n`);
  run('req', '-new', '-utf8', '-key', 'leaf.key', '-subj', `/CN=${leafName}`, '-out', 'leaf.csr');
  run(
    'x509',
    '-req',
    '-in',
    'leaf.csr',
    '-CA',
    'root.pem',
    '-CAkey',
    'root.key',
    '-CAcreateserial',
    '-days',
    '30',
    '-extfile',
    'leaf.cnf',
    '-out',
    'leaf.pem',
  );
  const cert = (name: string) => new X509Certificate(readFileSync(join(dir, name)));
  return { leaf: cert('leaf.pem'), root: cert('root.pem') };
}

describe('verifyCertificateChain: what the signing certificate may do', () => {
  it.each([
    ['key usage digitalSignature', 'keyUsage=critical,digitalSignature'],
    ['extended key usage codeSigning', 'keyUsage=critical,keyEncipherment\nextendedKeyUsage=codeSigning'],
  ])('accepts a leaf with %s', async (_name, extensions) => {
    const { leaf, root } = await chainWith(extensions);
    expect(verifyCertificateChain(leaf, [], [root]).map((c) => c.subject)).toEqual(['CN=leaf', 'CN=root']);
  });

  it.each([
    ['key usage without digitalSignature', 'keyUsage=critical,keyEncipherment'],
    ['another extended key usage', 'keyUsage=critical,keyAgreement\nextendedKeyUsage=serverAuth'],
    ['no key usage at all', ''],
  ])('refuses a leaf with %s', async (_name, extensions) => {
    const { leaf, root } = await chainWith(extensions);
    expect(() => verifyCertificateChain(leaf, [], [root])).toThrow(
      'the signing certificate allows neither digitalSignature nor codeSigning',
    );
  });

  it('reads the key usage from the extension, not from bytes that look like it elsewhere', async () => {
    // The subject spells the KeyUsage OID and a digitalSignature bit string; the extension has no such bit.
    const lookalike = '\u0006\u0003U\u001d\u000f\u0004\u0004\u0003\u0002\u0080';
    const { leaf, root } = await chainWith('keyUsage=critical,keyEncipherment', lookalike);
    expect(() => verifyCertificateChain(leaf, [], [root])).toThrow(
      'the signing certificate allows neither digitalSignature nor codeSigning',
    );
  });
});
