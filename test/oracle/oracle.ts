import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { python3Missing } from '../helpers/python.js';

/** What one of CPython's ways of reading a pickle did (see recording_unpickler.py). */
export interface OracleMode {
  events: OracleEvent[];
  error: string | null;
  streams: number;
}

export type OracleEvent =
  | { ev: 'import'; module: string; name: string }
  | { ev: 'call' | 'new'; fn: { global: string } | { result: string }; args: unknown }
  | { ev: 'setstate'; on: string; kind: 'global' | 'result'; dunders: string[] }
  | { ev: 'setattr'; on: string; name: string }
  | { ev: 'attr' | 'method'; of: string; name: string }
  | { ev: 'persid'; pid: unknown }
  | { ev: 'ext'; code: number };

export type OracleModeName = 'bytes' | 'peek' | 'file' | 'readonly' | 'python';

export interface OracleResult {
  /** The oracle process did not answer in time (or died): nothing is known about the input. */
  timedOut?: boolean;
  modes: Record<OracleModeName, OracleMode>;
}

const script = join(import.meta.dirname, 'recording_unpickler.py');

/** Why the oracle cannot run here, or undefined when python3 is there. */
export const oracleUnavailable = python3Missing;

interface Pending {
  resolve: (result: OracleResult) => void;
  timer: NodeJS.Timeout;
}

/**
 * A long-lived python3 process running the recording unpickler. Each input is answered on its own
 * line; one that takes longer than `caseTimeoutMs` (the script bounds each read at 2 s of its own)
 * kills the process, is answered as timed out, and the next input gets a fresh process.
 */
export class Oracle {
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(private readonly caseTimeoutMs = 20_000) {}

  private start(): ChildProcess {
    const child = spawn('python3', [script], { stdio: ['pipe', 'pipe', 'ignore'] });
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const answer = JSON.parse(line) as { id: number } & OracleResult;
      const waiting = this.pending.get(answer.id);
      if (!waiting) return;
      clearTimeout(waiting.timer);
      this.pending.delete(answer.id);
      waiting.resolve({ modes: answer.modes });
    });
    child.on('exit', () => {
      if (this.child === child) this.child = undefined;
      this.failAll();
    });
    child.stdin!.on('error', () => {});
    this.child = child;
    return child;
  }

  private failAll(): void {
    for (const [id, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      this.pending.delete(id);
      waiting.resolve(timedOut());
    }
  }

  run(data: Uint8Array): Promise<OracleResult> {
    const child = this.child ?? this.start();
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(timedOut());
        child.kill('SIGKILL');
      }, this.caseTimeoutMs);
      this.pending.set(id, { resolve, timer });
      child.stdin!.write(`${JSON.stringify({ id, data: Buffer.from(data).toString('base64') })}\n`);
    });
  }

  close(): void {
    this.child?.stdin?.end();
    this.child = undefined;
  }
}

function timedOut(): OracleResult {
  const none = { events: [], error: 'oracle timed out', streams: 0 };
  return { timedOut: true, modes: { bytes: none, peek: none, file: none, readonly: none, python: none } };
}
