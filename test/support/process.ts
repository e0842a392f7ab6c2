/**
 * Runs the packaged `kairos` binary (dist/cli/bin.js, see support/build.ts) as a real child process for tests that
 * need separate processes (two instances sharing PostgreSQL, signal handling, the packaged binary itself). Output is
 * collected; `waitFor` resolves on a log line, never on a timer. Everything else calls the CLI in-process
 * (support/cli.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KAIROS_BIN, ROOT } from './build.js';

export interface KairosProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves when a line of stdout/stderr matches (rejects if the process exits first). */
  waitFor(pattern: RegExp): Promise<string>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

export function writeConfig(dir: string, name: string, config: Record<string, unknown>): string {
  const file = join(dir, name);
  // JSON is YAML.
  writeFileSync(file, JSON.stringify(config));
  return file;
}

export function spawnKairos(args: string[], options: { env?: NodeJS.ProcessEnv } = {}): KairosProcess {
  const env = { ...process.env, NODE_NO_WARNINGS: '1', ...options.env };
  const child = spawn(process.execPath, [KAIROS_BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const waiters: { pattern: RegExp; resolve(line: string): void; reject(err: Error): void }[] = [];
  const onData = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const waiter of [...waiters]) {
      const line = text.split('\n').find((l) => waiter.pattern.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then((code) => {
    for (const waiter of waiters.splice(0)) waiter.reject(new Error(`kairos exited (${code}) before printing ${waiter.pattern}:\n${text}`));
  });
  return {
    child,
    output: () => text,
    waitFor(pattern) {
      const line = text.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) return Promise.resolve(line);
      if (child.exitCode !== null) return Promise.reject(new Error(`kairos exited (${child.exitCode}):\n${text}`));
      return new Promise((resolve, reject) => waiters.push({ pattern, resolve, reject }));
    },
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
