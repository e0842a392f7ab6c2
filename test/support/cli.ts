/**
 * Runs the `kairos` CLI in this process through its exported `main(argv)`, with stdout, stderr and the exit status
 * captured: the same command tree and code as the binary, without starting a Node process per command. Commands that
 * must prove the packaged binary or a separate process (signals, two instances) use support/process.ts instead.
 *
 * `process.exit` is replaced for the duration of the call by a function that throws (and the throw is caught here),
 * so a command that exits ends the run with its status instead of ending the test worker.
 */
import { vi } from 'vitest';
import { main } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

class CliExit extends Error {
  constructor(readonly code: number) {
    super(`kairos exited with ${code}`);
  }
}

let running = false;

/** `kairos <args…>` in-process; `env` is set for the call and restored afterwards. */
export async function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  if (running) throw new Error('runCli: one CLI run at a time per worker (stdout and process.exit are captured)');
  running = true;
  let stdout = '';
  let stderr = '';
  const capture = (sink: 'out' | 'err') => (chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (sink === 'out') stdout += text;
    else stderr += text;
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture('out') as typeof process.stdout.write);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture('err') as typeof process.stderr.write);
  const exit = vi.spyOn(process, 'exit').mockImplementation(((code?: number | string | null) => {
    throw new CliExit(Number(code ?? 0));
  }) as typeof process.exit);
  const savedEnv = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const savedExitCode = process.exitCode;
  process.exitCode = undefined;
  let code = 0;
  try {
    await main([process.execPath, 'kairos', ...args]);
    code = Number(process.exitCode ?? 0);
  } catch (e) {
    if (!(e instanceof CliExit)) throw e;
    code = e.code;
  } finally {
    process.exitCode = savedExitCode;
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    out.mockRestore();
    err.mockRestore();
    exit.mockRestore();
    running = false;
  }
  return { code, stdout, stderr };
}
