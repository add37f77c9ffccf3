import type { Readable } from 'node:stream';
import { Agent, type Dispatcher, request } from 'undici';
import { MlsecError } from '../../core/errors.js';

export type RequestBody = Uint8Array | string | Readable;

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  /** Called again for every attempt, so a retried upload re-reads its file instead of a spent stream. */
  body?: () => RequestBody;
  /** Ends the exchange, body included, when aborted (an interrupted pull). */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  url: URL;
}

export interface RetryPolicy {
  retries: number;
  /** First backoff; doubled each time, ±10 %, capped at 10 s; a `Retry-After` wins. */
  baseDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { retries: 4, baseDelayMs: 250 };

const retryableStatus = new Set([408, 429, 500, 502, 503, 504]);
const retryableCodes = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

export function isRetryableStatus(status: number): boolean {
  return retryableStatus.has(status);
}

export function isRetryableError(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  return code !== undefined && retryableCodes.has(code);
}

export function header(response: Pick<HttpResponse, 'headers'>, name: string): string | undefined {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export function makeDispatcher(options: { ca?: string; insecure?: boolean }): Dispatcher {
  return new Agent({
    connect: {
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.insecure ? { rejectUnauthorized: false } : {}),
    },
    // Big blobs take long between bytes on a slow registry; a stuck one is still cut off.
    bodyTimeout: 300_000,
    headersTimeout: 300_000,
  });
}

/** One HTTP exchange, no retries, no redirects: the registry client decides both. */
export async function send(dispatcher: Dispatcher, req: HttpRequest): Promise<HttpResponse> {
  try {
    const response = await request(req.url, {
      method: req.method,
      headers: req.headers ?? {},
      body: req.body?.() ?? null,
      dispatcher,
      ...(req.signal ? { signal: req.signal } : {}),
      // Big body chunks: a 1 GiB blob in 64 KiB pieces costs more in per-chunk overhead than in hashing.
      highWaterMark: 1 << 20,
    });
    return { status: response.statusCode, headers: response.headers, body: response.body, url: req.url };
  } catch (error) {
    // A deadline's own error (the abort reason), or a transient one for the caller to retry.
    if (error instanceof MlsecError || isRetryableError(error)) throw error;
    const code = (error as { code?: string }).code;
    throw new MlsecError(
      'REGISTRY_ERROR',
      `cannot reach ${req.url.origin}: ${(error as Error).message}${code ? ` (${code})` : ''}`,
      { cause: error },
    );
  }
}

/** Backoff before attempt `attempt` (1-based retry number). */
export function backoffMs(policy: RetryPolicy, attempt: number, retryAfter?: string): number {
  const seconds = retryAfter === undefined ? Number.NaN : Number(retryAfter);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, 10_000);
  const base = Math.min(policy.baseDelayMs * 2 ** (attempt - 1), 10_000);
  return base * (0.9 + Math.random() * 0.2);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Reads a whole body, refusing it past `limit` bytes: a registry (or something posing as one)
 * must not make us buffer a 100 MB "manifest". The declared length is checked first.
 */
export async function readLimited(response: HttpResponse, limit: number, what: string): Promise<Uint8Array> {
  const declared = Number(header(response, 'content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    response.body.destroy();
    throw new MlsecError('VERIFICATION_FAILED', `${what} is ${declared} bytes, over the limit of ${limit}`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > limit) {
      response.body.destroy();
      throw new MlsecError('VERIFICATION_FAILED', `${what} is over the limit of ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Drops a body we do not read, so the connection can be reused. */
export async function discard(response: HttpResponse): Promise<void> {
  try {
    await response.body.dump({ limit: 64 << 10 });
  } catch {
    // Nothing to do: the socket is closed instead.
  }
}

/** A short, safe description of an error response: the registry's error codes, never a whole body. */
export async function describeFailure(response: HttpResponse): Promise<string> {
  let detail = '';
  try {
    const text = new TextDecoder().decode(await readLimited(response, 16 << 10, 'error body'));
    const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    detail = (parsed.errors ?? [])
      .map((e) => [e.code, e.message].filter(Boolean).join(': '))
      .join('; ')
      .slice(0, 300);
  } catch {
    // Not a registry error document.
  }
  return `HTTP ${response.status}${detail ? ` (${detail})` : ''}`;
}
