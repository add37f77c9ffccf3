import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat, utimes } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Dispatcher } from 'undici';
import { MlsecError } from '../../core/errors.js';
import { createDigester, digestBytes } from '../../core/hash/digest.js';
import { formatDuration } from '../../core/registry/duration.js';
import { ociIndexType, ociManifestType } from '../../core/registry/media-types.js';
import type { Descriptor } from '../../core/registry/model-pack.js';
import { basicHeader, type Challenge, type Credential, challengeOf, TokenCache } from './auth.js';
import { ownPartialSuffix } from './blob-cache.js';
import {
  backoffMs,
  defaultRetryPolicy,
  describeFailure,
  discard,
  type HttpRequest,
  type HttpResponse,
  header,
  isRetryableError,
  isRetryableStatus,
  makeDispatcher,
  type RetryPolicy,
  readLimited,
  send,
  sleep,
} from './http.js';

export interface RegistryClientOptions {
  /** `host[:port]`. */
  registry: string;
  repository: string;
  plainHttp?: boolean;
  /** TLS without certificate checks; only when asked. */
  insecure?: boolean;
  /** PEM bundle to trust besides the system's. */
  ca?: string;
  credential?: Credential;
  retry?: RetryPolicy;
  /** Manifests larger than this are refused; distribution's own limit is 4 MiB. */
  maxManifestBytes?: number;
  /** Blobs above this go up in chunks of this size; below, in one PUT. */
  chunkSize?: number;
  dispatcher?: Dispatcher;
  /** Aborts every exchange in flight and to come: a download then keeps its bytes to resume. */
  signal?: AbortSignal;
  /**
   * Everything this client sends must be answered, bodies included, within this many milliseconds
   * of its creation (`--timeout`). Without it: `defaultTimeoutMs`, plus a second per MiB announced
   * with `expectTransfer`.
   */
  timeoutMs?: number;
  /** Each request other than a blob transfer must be answered, body included, within this. */
  requestTimeoutMs?: number;
  /** Credentials may go to a plain-HTTP token realm on another origin (`--allow-insecure-token-realm`). */
  allowInsecureTokenRealm?: boolean;
}

/** The deadline of a whole push or pull unless `--timeout` sets one: an hour, plus `msPerMiB` per MiB. */
export const defaultTimeoutMs = 3600_000;
/** Added to the default deadline per MiB of blobs to move: it allows for 1 MiB/s. */
export const msPerMiB = 1000;
/** A manifest, a token, an upload session: small answers, each within five minutes. */
export const defaultRequestTimeoutMs = 300_000;
/** Longest delay `setTimeout` takes; a deadline past it (24 days) is not armed. */
const maxTimerMs = 2 ** 31 - 1;

export const defaultMaxManifestBytes = 4 << 20;
export const defaultChunkSize = 2 ** 31;
const maxRedirects = 5;

export const manifestAccept = `${ociManifestType}, ${ociIndexType}`;

export type BlobPushResult = 'exists' | 'mounted' | 'uploaded';

interface ExchangeOptions {
  /** Extra token scopes (e.g. pull on a mount's source repository). */
  scopes?: readonly string[];
  /** Network errors and 5xx are retried; uploads turn this off and resume themselves. */
  retry?: boolean;
  /** A blob's body: bounded by the whole deadline only, not by the limit for one request. */
  transfer?: boolean;
  /** Follow 3xx (GET/HEAD only); credentials are never sent to another origin. */
  follow?: boolean;
}

/**
 * The OCI distribution protocol for one repository: auth challenges answered once per request (a
 * second 401 is a refusal, not a loop), retries with backoff, redirects that keep credentials on
 * the registry's origin, and size limits on everything read into memory.
 */
export class RegistryClient {
  readonly registry: string;
  readonly repository: string;
  readonly base: URL;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #credential: Credential | undefined;
  readonly #tokens: TokenCache;
  readonly #retry: RetryPolicy;
  readonly #signal: AbortSignal | undefined;
  readonly #plainHttp: boolean;
  readonly maxManifestBytes: number;
  readonly chunkSize: number;
  /** What the registry asked for last: answered up front on later requests. */
  #challenge: Challenge | undefined;
  readonly #startedAt = Date.now();
  readonly #explicitTimeout: boolean;
  #timeoutMs: number;
  readonly #requestTimeoutMs: number;

  constructor(options: RegistryClientOptions) {
    this.registry = options.registry;
    this.repository = options.repository;
    this.#plainHttp = options.plainHttp === true;
    this.base = new URL(`${this.#plainHttp ? 'http' : 'https'}://${options.registry}`);
    this.#dispatcher = options.dispatcher ?? makeDispatcher(options);
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#credential = options.credential;
    this.#tokens = new TokenCache(this.#dispatcher, {
      registryOrigin: this.base.origin,
      plainHttp: this.#plainHttp,
      insecureRealm: options.allowInsecureTokenRealm === true,
    });
    this.#retry = options.retry ?? defaultRetryPolicy;
    this.maxManifestBytes = options.maxManifestBytes ?? defaultMaxManifestBytes;
    this.chunkSize = options.chunkSize ?? defaultChunkSize;
    this.#signal = options.signal;
    this.#explicitTimeout = options.timeoutMs !== undefined;
    this.#timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? defaultRequestTimeoutMs;
  }

  /** Extends the default deadline for `bytes` of blobs to move; a deadline given stays as it is. */
  expectTransfer(bytes: number): void {
    if (!this.#explicitTimeout) this.#timeoutMs = defaultTimeoutMs + Math.ceil(bytes / 2 ** 20) * msPerMiB;
  }

  /**
   * The signal of one request: aborted, with an error naming it, at the whole deadline or, unless
   * it is a blob transfer, after the limit for one request, whichever comes first; and on interrupt.
   */
  #deadline(method: string, url: URL, transfer: boolean): AbortSignal {
    const left = this.#startedAt + this.#timeoutMs - Date.now();
    const whole = transfer || left <= this.#requestTimeoutMs;
    const ms = Math.max(0, whole ? left : this.#requestTimeoutMs);
    const where = url.origin === this.base.origin ? url.pathname : `${url.origin}${url.pathname}`;
    const what = `${this.registry}: ${method} ${where.length > 200 ? `${where.slice(0, 200)}…` : where}`;
    const reason = () =>
      new MlsecError(
        'REGISTRY_ERROR',
        whole
          ? `${what} did not finish before the deadline of ${formatDuration(this.#timeoutMs)} (--timeout)`
          : `${what} did not finish within ${formatDuration(this.#requestTimeoutMs)}, the limit for one request`,
      );
    const controller = new AbortController();
    if (ms === 0) controller.abort(reason());
    else if (ms <= maxTimerMs) setTimeout(() => controller.abort(reason()), ms).unref();
    return this.#signal ? AbortSignal.any([this.#signal, controller.signal]) : controller.signal;
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  #url(path: string): URL {
    return new URL(`/v2/${this.repository}/${path}`, this.base);
  }

  /** `pull` or `pull,push` on this repository, plus any extra scopes. */
  #scopes(push: boolean, extra: readonly string[] = []): string[] {
    return [`repository:${this.repository}:${push ? 'pull,push' : 'pull'}`, ...extra];
  }

  async #authorization(scopes: readonly string[], fresh: boolean): Promise<string | undefined> {
    const challenge = this.#challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') {
      const credential = this.#credential;
      if (credential?.kind !== 'basic') return undefined;
      if (this.base.protocol !== 'https:' && !this.#plainHttp) return undefined;
      return basicHeader(credential.username, credential.password);
    }
    const wanted = [...new Set([...(challenge.params.scope?.split(' ') ?? []), ...scopes])];
    if (fresh) this.#tokens.forget(wanted);
    const token =
      this.#tokens.cached(wanted) ??
      (await this.#tokens.fetch(challenge, wanted, this.#credential, (method, url) =>
        this.#deadline(method, url, false),
      ));
    return `Bearer ${token}`;
  }

  /**
   * Sends `req`, answering one auth challenge and retrying transient failures. The response body
   * is the caller's to read or discard.
   */
  async exchange(req: HttpRequest, push: boolean, options: ExchangeOptions = {}): Promise<HttpResponse> {
    const scopes = this.#scopes(push, options.scopes);
    let answeredChallenge = false;
    let attempt = 0;
    let redirects = 0;
    let current = req;
    for (;;) {
      const sameOrigin = current.url.origin === this.base.origin;
      const authorization = sameOrigin ? await this.#authorization(scopes, false) : undefined;
      const headers = { ...current.headers, ...(authorization ? { authorization } : {}) };
      let response: HttpResponse;
      try {
        response = await send(this.#dispatcher, {
          ...current,
          headers,
          signal: this.#deadline(current.method, current.url, options.transfer === true),
        });
      } catch (error) {
        if (options.retry !== false && isRetryableError(error) && attempt < this.#retry.retries) {
          attempt += 1;
          await sleep(backoffMs(this.#retry, attempt));
          continue;
        }
        // Without retries here the caller resumes or restarts, so it needs the raw error.
        if (isRetryableError(error) && options.retry !== false) {
          throw new MlsecError(
            'REGISTRY_ERROR',
            `${req.method} ${current.url.origin}: connection failed: ${(error as Error).message}`,
            { cause: error },
          );
        }
        throw error;
      }
      if (response.status === 401 && sameOrigin) {
        await discard(response);
        const challenge = challengeOf(response);
        if (answeredChallenge || !challenge) {
          throw new MlsecError(
            'REGISTRY_AUTH',
            `${this.registry} refused ${this.#credential ? 'the credentials' : 'anonymous access'} for ${this.repository} (HTTP 401)`,
          );
        }
        answeredChallenge = true;
        const hadChallenge = this.#challenge !== undefined;
        this.#challenge = challenge;
        // A token we already had was refused: fetch a fresh one once.
        if (hadChallenge) await this.#authorization(scopes, true);
        continue;
      }
      if (isRetryableStatus(response.status) && options.retry !== false && attempt < this.#retry.retries) {
        await discard(response);
        attempt += 1;
        await sleep(backoffMs(this.#retry, attempt, header(response, 'retry-after')));
        continue;
      }
      const location = header(response, 'location');
      if (options.follow && response.status >= 300 && response.status < 400 && location) {
        await discard(response);
        redirects += 1;
        if (redirects > maxRedirects) {
          throw new MlsecError('REGISTRY_ERROR', `${this.registry}: more than ${maxRedirects} redirects`);
        }
        const next = new URL(location, current.url);
        if (next.protocol !== 'https:' && !(next.protocol === 'http:' && this.#plainHttp)) {
          throw new MlsecError('REGISTRY_ERROR', `${this.registry} redirected to a non-HTTPS address`);
        }
        current = { ...current, url: next };
        continue;
      }
      return response;
    }
  }

  async #fail(response: HttpResponse, what: string): Promise<never> {
    throw new MlsecError(
      'REGISTRY_ERROR',
      `${what}: ${this.registry} answered ${await describeFailure(response)}`,
    );
  }

  // --- manifests ---------------------------------------------------------------------------------

  /** A manifest's bytes, bounded in size; pinned digests are checked. */
  async getManifest(reference: string): Promise<{ bytes: Uint8Array; mediaType: string; digest: string }> {
    const response = await this.exchange(
      { method: 'GET', url: this.#url(`manifests/${reference}`), headers: { accept: manifestAccept } },
      false,
      { follow: true },
    );
    if (response.status === 404) {
      await discard(response);
      throw new MlsecError('INPUT_NOT_FOUND', `${this.registry}/${this.repository}:${reference} not found`);
    }
    if (response.status !== 200) return this.#fail(response, `manifest ${reference}`);
    const bytes = await readLimited(response, this.maxManifestBytes, `manifest ${reference}`);
    const digest = `sha256:${digestBytes(bytes).hex}`;
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new MlsecError('VERIFICATION_FAILED', `manifest ${reference} has digest ${digest}`);
    }
    const mediaType = header(response, 'content-type')?.split(';')[0]?.trim() ?? '';
    return { bytes, mediaType, digest };
  }

  /** Optional manifest (referrers index at a tag): undefined on 404. */
  async findManifest(reference: string) {
    try {
      return await this.getManifest(reference);
    } catch (error) {
      if (error instanceof MlsecError && error.code === 'INPUT_NOT_FOUND') return undefined;
      throw error;
    }
  }

  async putManifest(
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
  ): Promise<{ digest: string; subject: string | undefined }> {
    if (bytes.length > this.maxManifestBytes) {
      throw new MlsecError(
        'INPUT_INVALID',
        `manifest of ${bytes.length} bytes is over ${this.maxManifestBytes}`,
      );
    }
    const response = await this.exchange(
      {
        method: 'PUT',
        url: this.#url(`manifests/${reference}`),
        headers: { 'content-type': mediaType },
        body: () => bytes,
      },
      true,
    );
    if (response.status !== 201 && response.status !== 200) {
      return this.#fail(response, `pushing manifest ${reference}`);
    }
    await discard(response);
    return { digest: `sha256:${digestBytes(bytes).hex}`, subject: header(response, 'oci-subject') };
  }

  /** The repository's tags (at most the first `limit` the registry lists); none when it has none (404). */
  async listTags(limit: number): Promise<string[]> {
    const url = this.#url('tags/list');
    url.searchParams.set('n', String(limit));
    const response = await this.exchange({ method: 'GET', url }, false, { follow: true });
    if (response.status === 404) {
      await discard(response);
      return [];
    }
    if (response.status !== 200) return this.#fail(response, 'listing tags');
    const bytes = await readLimited(response, this.maxManifestBytes, 'tag list');
    const tags = (JSON.parse(new TextDecoder().decode(bytes)) as { tags?: unknown }).tags;
    return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [];
  }

  /** The referrers API's index, or undefined when the registry has no such API (404). */
  async referrersApi(digest: string): Promise<Uint8Array | undefined> {
    const response = await this.exchange(
      { method: 'GET', url: this.#url(`referrers/${digest}`), headers: { accept: ociIndexType } },
      false,
      { follow: true },
    );
    const type = header(response, 'content-type') ?? '';
    if (response.status === 404 || (response.status === 200 && !type.startsWith(ociIndexType))) {
      await discard(response);
      return undefined;
    }
    if (response.status !== 200) return this.#fail(response, `referrers of ${digest}`);
    return readLimited(response, this.maxManifestBytes, `referrers of ${digest}`);
  }

  // --- blobs -------------------------------------------------------------------------------------

  async hasBlob(digest: string, push = false): Promise<boolean> {
    const response = await this.exchange({ method: 'HEAD', url: this.#url(`blobs/${digest}`) }, push, {
      follow: true,
    });
    await discard(response);
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    return this.#fail(response, `checking blob ${digest}`);
  }

  /**
   * Downloads a blob to `target`, hashing as it streams: a wrong digest, a short or an overlong body
   * leaves nothing at `target`. After a connection failure, in this run or an earlier one, the bytes
   * that arrived are kept and the rest is asked for with a Range request; they are hashed again with
   * the rest, and a resumed download that fails verification is done once more from the start.
   */
  async downloadBlob(
    descriptor: Descriptor,
    target: string,
    onProgress?: (bytes: number) => void,
  ): Promise<void> {
    // Each download writes a file of its own, so two pulls sharing a cache never write into one
    // file (which could then differ from the bytes either hashed). The resumable bytes of a download
    // that gave up wait at `target.partial`, renamed there only once their writer is done; renaming
    // them away claims them, atomically, for this download alone.
    const shared = `${target}.partial`;
    const partial = `${target}.${process.pid}-${randomBytes(4).toString('hex')}${ownPartialSuffix}`;
    await claimKeptBytes(shared, partial);
    let resumable = true;
    for (let attempt = 0; ; ) {
      const offset = resumable ? await keptBytes(partial, descriptor.size) : 0;
      try {
        await this.#downloadOnce(descriptor, partial, offset, onProgress);
        // The bytes hashed are the bytes on disk only if nobody removed or replaced the file meanwhile.
        if ((await stat(partial).catch(() => undefined))?.size !== descriptor.size) {
          throw new MlsecError(
            'VERIFICATION_FAILED',
            `blob ${descriptor.digest}: its download file changed while it was written`,
          );
        }
        await rename(partial, target);
        return;
      } catch (error) {
        // Bytes shown to be wrong go; a resumed download is then done once more from the start.
        if (error instanceof MlsecError && error.code === 'VERIFICATION_FAILED') {
          await rm(partial, { force: true });
          if (offset === 0) throw error;
          resumable = false;
          continue;
        }
        const truncated = (error as { code?: string }).code === truncatedBody;
        if ((isRetryableError(error) || truncated) && attempt < this.#retry.retries) {
          attempt += 1;
          await sleep(backoffMs(this.#retry, attempt));
          continue;
        }
        // Anything else (the registry down, refusing, missing the blob) leaves what arrived for the
        // next pull to resume.
        await rename(partial, shared).catch(() => rm(partial, { force: true }));
        if (truncated) throw new MlsecError('VERIFICATION_FAILED', (error as Error).message);
        if (isRetryableError(error)) {
          throw new MlsecError(
            'REGISTRY_ERROR',
            `blob ${descriptor.digest}: connection failed: ${(error as Error).message}`,
          );
        }
        throw error;
      }
    }
  }

  async #downloadOnce(
    descriptor: Descriptor,
    partial: string,
    offset: number,
    onProgress?: (bytes: number) => void,
  ) {
    let digester = createDigester('sha256');
    let received = 0;
    let append = false;
    if (offset > 0) {
      // The kept bytes count only if they are the blob's start: they are hashed with the rest.
      await pipeline(
        createReadStream(partial, { end: offset - 1 }),
        async (chunks: AsyncIterable<Buffer>) => {
          for await (const chunk of chunks) digester.update(chunk);
        },
      );
      received = offset;
      append = true;
      onProgress?.(received);
    }
    if (received < descriptor.size) {
      const range = append ? { headers: { range: `bytes=${offset}-` } } : {};
      const url = this.#url(`blobs/${descriptor.digest}`);
      const response = await this.exchange({ method: 'GET', url, ...range }, false, {
        follow: true,
        transfer: true,
      });
      if (append && response.status === 200) {
        // The registry ignored the range: the whole blob comes again.
        received = 0;
        append = false;
        digester = createDigester('sha256');
      } else if (append && response.status === 416) {
        await discard(response);
        throw new MlsecError(
          'VERIFICATION_FAILED',
          `blob ${descriptor.digest}: the registry cannot serve it from byte ${offset}`,
        );
      } else if (append && response.status === 206) {
        const start = /^bytes (\d+)-/.exec(header(response, 'content-range') ?? '')?.[1];
        if (Number(start) !== offset) {
          await discard(response);
          throw new MlsecError(
            'VERIFICATION_FAILED',
            `blob ${descriptor.digest}: the registry answered a range from byte ${offset} with ${header(response, 'content-range') ?? 'no Content-Range'}`,
          );
        }
      } else if (response.status !== 200) return this.#fail(response, `blob ${descriptor.digest}`);
      const check = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          received += chunk.length;
          if (received > descriptor.size) {
            done(
              new MlsecError(
                'VERIFICATION_FAILED',
                `blob ${descriptor.digest} is longer than the ${descriptor.size} bytes its manifest says`,
              ),
            );
            return;
          }
          digester.update(chunk);
          onProgress?.(received);
          done(null, chunk);
        },
      });
      // A write stream batches the many small network chunks into few writes (writev).
      const sink = createWriteStream(partial, { flags: append ? 'a' : 'w', highWaterMark: 4 << 20 });
      try {
        await pipeline(response.body, check, sink);
      } catch (error) {
        // A write still in flight lands before the file is measured for a resume.
        if (!sink.closed) await once(sink, 'close').catch(() => undefined);
        throw error;
      }
    }
    if (received < descriptor.size) {
      // Not shown to be wrong, only short: kept and resumed like a broken connection.
      throw Object.assign(
        new Error(`blob ${descriptor.digest} is truncated: ${received} of ${descriptor.size} bytes`),
        { code: truncatedBody },
      );
    }
    const actual = `sha256:${digester.digest().hex}`;
    if (actual !== descriptor.digest) {
      throw new MlsecError('VERIFICATION_FAILED', `blob ${descriptor.digest} has the wrong digest ${actual}`);
    }
  }

  /** Small blobs (configs) into memory, bounded and verified. */
  async fetchSmallBlob(descriptor: Descriptor, limit = defaultMaxManifestBytes): Promise<Uint8Array> {
    if (descriptor.size > limit) {
      throw new MlsecError(
        'VERIFICATION_FAILED',
        `blob ${descriptor.digest} is ${descriptor.size} bytes, over ${limit}`,
      );
    }
    const response = await this.exchange(
      { method: 'GET', url: this.#url(`blobs/${descriptor.digest}`) },
      false,
      {
        follow: true,
      },
    );
    if (response.status !== 200) return this.#fail(response, `blob ${descriptor.digest}`);
    const bytes = await readLimited(response, descriptor.size, `blob ${descriptor.digest}`);
    const actual = `sha256:${digestBytes(bytes).hex}`;
    if (bytes.length !== descriptor.size || actual !== descriptor.digest) {
      throw new MlsecError('VERIFICATION_FAILED', `blob ${descriptor.digest} has the wrong digest ${actual}`);
    }
    return bytes;
  }

  /**
   * Uploads a blob unless the registry has it: HEAD, then a cross-repository mount when a source is
   * known, then one streaming PUT, or PATCH chunks that resume from the registry's offset after a
   * failure. `openBody(start)` reads the content from byte `start`, again for every attempt.
   */
  async pushBlob(
    descriptor: Descriptor,
    openBody: (start: number, end: number) => Readable | Uint8Array,
    options: { mountFrom?: string; onProgress?: (bytes: number) => void } = {},
  ): Promise<BlobPushResult> {
    if (await this.hasBlob(descriptor.digest, true)) return 'exists';
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.#uploadOnce(descriptor, openBody, options);
      } catch (error) {
        const transient =
          isRetryableError(error) || (error instanceof UploadRestart && attempt < this.#retry.retries);
        if (transient && attempt < this.#retry.retries) {
          await sleep(backoffMs(this.#retry, attempt + 1));
          continue;
        }
        if (error instanceof UploadRestart || isRetryableError(error)) {
          throw new MlsecError(
            'REGISTRY_ERROR',
            `uploading blob ${descriptor.digest}: ${(error as Error).message}`,
          );
        }
        throw error;
      }
    }
  }

  async #uploadOnce(
    descriptor: Descriptor,
    openBody: (start: number, end: number) => Readable | Uint8Array,
    options: { mountFrom?: string; onProgress?: (bytes: number) => void },
  ): Promise<BlobPushResult> {
    const start = this.#url('blobs/uploads/');
    const mountFrom =
      options.mountFrom && options.mountFrom !== this.repository ? options.mountFrom : undefined;
    if (mountFrom) {
      start.searchParams.set('mount', descriptor.digest);
      start.searchParams.set('from', mountFrom);
    }
    const extra = mountFrom ? [`repository:${mountFrom}:pull`] : [];
    const opened = await this.exchange(
      { method: 'POST', url: start, headers: { 'content-length': '0' } },
      true,
      {
        scopes: extra,
      },
    );
    await discard(opened);
    if (opened.status === 201 && mountFrom) return 'mounted';
    if (opened.status !== 202) return this.#fail(opened, `starting upload of ${descriptor.digest}`);
    let location = this.#location(opened, start);
    const size = descriptor.size;
    if (size <= this.chunkSize) {
      const put = withDigest(location, descriptor.digest);
      const response = await this.exchange(
        {
          method: 'PUT',
          url: put,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
          body: () => openBody(0, size),
        },
        true,
        { retry: false, transfer: true },
      );
      return this.#closed(response, descriptor, options, size);
    }
    let offset = 0;
    while (offset < size) {
      const end = Math.min(offset + this.chunkSize, size);
      let response: HttpResponse;
      try {
        response = await this.exchange(
          {
            method: 'PATCH',
            url: location,
            headers: {
              'content-type': 'application/octet-stream',
              'content-length': String(end - offset),
              'content-range': `${offset}-${end - 1}`,
            },
            body: () => openBody(offset, end),
          },
          true,
          { retry: false, transfer: true },
        );
      } catch (error) {
        if (!isRetryableError(error)) throw error;
        ({ location, offset } = await this.#resumePoint(location));
        continue;
      }
      if (response.status !== 202) {
        if (isRetryableStatus(response.status)) {
          await discard(response);
          ({ location, offset } = await this.#resumePoint(location));
          continue;
        }
        return this.#fail(response, `uploading ${descriptor.digest}`);
      }
      await discard(response);
      location = this.#location(response, location);
      offset = end;
      options.onProgress?.(offset);
    }
    const response = await this.exchange(
      { method: 'PUT', url: withDigest(location, descriptor.digest), headers: { 'content-length': '0' } },
      true,
    );
    return this.#closed(response, descriptor, {}, size);
  }

  /**
   * Uploads a file the registry is unlikely to have while hashing it, from one read: POST, a PATCH
   * per chunk of the streamed bytes, then `PUT ?digest=` with the digest computed on the way (the
   * registry checks it). Returns that digest. A transient failure throws `StreamInterrupted`: a
   * half-hashed stream cannot resume, so the caller falls back to `pushBlob` with the file's digest.
   */
  async streamBlob(path: string, size: number, onProgress?: (bytes: number) => void): Promise<string> {
    try {
      return await this.#streamOnce(path, size, onProgress);
    } catch (error) {
      if (isRetryableError(error) || error instanceof UploadRestart) {
        throw new StreamInterrupted((error as Error).message, { cause: error });
      }
      throw error;
    }
  }

  async #streamOnce(path: string, size: number, onProgress?: (bytes: number) => void): Promise<string> {
    const start = this.#url('blobs/uploads/');
    const opened = await this.exchange(
      { method: 'POST', url: start, headers: { 'content-length': '0' } },
      true,
    );
    await discard(opened);
    if (opened.status !== 202) return this.#fail(opened, `starting upload of ${path}`);
    let location = this.#location(opened, start);
    const hash = createHash('sha256');
    let sent = 0;
    for (let offset = 0; offset < size; ) {
      const end = Math.min(offset + this.chunkSize, size);
      const from = offset;
      let opens = 0;
      const body = () => {
        // A retried request (a refreshed token) would need the bytes again: only a restart has them.
        opens += 1;
        if (opens > 1) throw new UploadRestart('a streamed chunk cannot be sent twice');
        const read = createReadStream(path, { start: from, end: end - 1, highWaterMark: 1 << 20 });
        const hashing = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            hash.update(chunk);
            sent += chunk.length;
            onProgress?.(sent);
            done(null, chunk);
          },
        });
        read.on('error', (error) => hashing.destroy(error));
        return read.pipe(hashing);
      };
      const response = await this.exchange(
        {
          method: 'PATCH',
          url: location,
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(end - from),
            'content-range': `${from}-${end - 1}`,
          },
          body,
        },
        true,
        { retry: false, transfer: true },
      );
      if (response.status !== 202) {
        if (isRetryableStatus(response.status)) {
          await discard(response);
          throw new UploadRestart(`HTTP ${response.status}`);
        }
        return this.#fail(response, `uploading ${path}`);
      }
      await discard(response);
      if (sent !== end) {
        throw new MlsecError('INPUT_INVALID', `${path} changed while it was pushed`);
      }
      location = this.#location(response, location);
      offset = end;
    }
    const digest = `sha256:${hash.digest('hex')}`;
    const response = await this.exchange(
      { method: 'PUT', url: withDigest(location, digest), headers: { 'content-length': '0' } },
      true,
    );
    if (response.status !== 201) {
      if (isRetryableStatus(response.status)) {
        await discard(response);
        throw new UploadRestart(`HTTP ${response.status}`);
      }
      return this.#fail(response, `uploading ${path}`);
    }
    await discard(response);
    return digest;
  }

  /** Where a broken chunked upload stands (`GET <location>` → `Range: 0-N`); a lost session restarts. */
  async #resumePoint(location: URL): Promise<{ location: URL; offset: number }> {
    const status = await this.exchange({ method: 'GET', url: location }, true);
    await discard(status);
    const range = /^(?:bytes=)?0-(\d+)$/.exec(header(status, 'range') ?? '');
    if (status.status !== 204 || !range) throw new UploadRestart('the upload session was lost');
    return { location: this.#location(status, location), offset: Number(range[1]) + 1 };
  }

  async #closed(
    response: HttpResponse,
    descriptor: Descriptor,
    options: { onProgress?: (bytes: number) => void },
    size: number,
  ): Promise<BlobPushResult> {
    if (response.status === 201) {
      await discard(response);
      options.onProgress?.(size);
      return 'uploaded';
    }
    if (isRetryableStatus(response.status)) {
      await discard(response);
      throw new UploadRestart(`HTTP ${response.status}`);
    }
    return this.#fail(response, `uploading ${descriptor.digest}`);
  }

  #location(response: HttpResponse, from: URL): URL {
    const location = header(response, 'location');
    if (!location) throw new MlsecError('REGISTRY_ERROR', `${this.registry} gave no upload location`);
    const url = new URL(location, from);
    if (url.origin !== this.base.origin) {
      // Credentials stay on the registry's origin; an upload elsewhere would go unauthenticated.
      throw new MlsecError(
        'REGISTRY_ERROR',
        `${this.registry} sent the upload to another host (${url.origin})`,
      );
    }
    return url;
  }
}

/** A failed upload that starts over from a new session. */
class UploadRestart extends Error {}

/** A streamed upload that broke off: retry it with `pushBlob`, which knows the digest up front. */
export class StreamInterrupted extends Error {}

function withDigest(location: URL, digest: string): URL {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url;
}

/** A file's bytes [start, end) as a fresh stream. */
export function fileRange(path: string): (start: number, end: number) => Readable | Uint8Array {
  return (start, end) =>
    end > start ? createReadStream(path, { start, end: end - 1, highWaterMark: 1 << 20 }) : new Uint8Array(0);
}

/** Takes over the bytes a download that gave up left; touched, as the cache sweeps stale own files. */
async function claimKeptBytes(shared: string, own: string): Promise<void> {
  try {
    await rename(shared, own);
  } catch {
    return; // nothing kept, or another download claimed it first
  }
  const now = new Date();
  await utimes(own, now, now).catch(() => undefined);
}

/** `code` of a body that ended cleanly before the blob's size. */
const truncatedBody = 'ERR_BODY_TRUNCATED';

/** Bytes of an earlier download kept in `partial`: resumable only if no more than the blob's size. */
async function keptBytes(partial: string, size: number): Promise<number> {
  const kept = (await stat(partial).catch(() => undefined))?.size ?? 0;
  return kept > 0 && kept <= size ? kept : 0;
}
