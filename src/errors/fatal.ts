/**
 * Errors an operator can act on. A command that cannot start prints one line, `kairos: <what failed>: <what to
 * change>`, and exits with EXIT_CONFIGURATION; the stack trace is printed only with `--debug` or `log.level: debug`
 * (or trace). Anything not recognised here is a bug or an unexpected failure: one line too, exit 1, and a pointer to
 * `--debug`.
 */

/** Exit status for "the configuration or the environment is wrong" (Kratos and sysexits' EX_USAGE use 2 likewise). */
export const EXIT_CONFIGURATION = 2;
/** Exit status for an unexpected failure. */
export const EXIT_FAILURE = 1;

/** Thrown by commands for a problem the operator must fix; its message is the whole line after `kairos: `. */
export class FatalError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_CONFIGURATION,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FatalError';
  }
}

/** Which listener a failed `listen()` belonged to, so the message can name its key and variable. */
export interface ListenerContext {
  listener: 'public' | 'admin';
  host: string;
  port: number;
}

const LISTENER_KEYS = {
  public: { key: 'serve.public.port', env: 'SERVE_PUBLIC_PORT', hostKey: 'serve.public.host', hostEnv: 'SERVE_PUBLIC_HOST' },
  admin: { key: 'serve.admin.port', env: 'SERVE_ADMIN_PORT', hostKey: 'serve.admin.host', hostEnv: 'SERVE_ADMIN_HOST' },
} as const;

type Coded = Error & { code?: string; errno?: number; syscall?: string; address?: string; port?: number };

/** A listen() failure as a FatalError naming the key and environment variable to change; null if not one. */
export function listenFailure(error: unknown, at: ListenerContext): FatalError | null {
  const code = (error as Coded | null)?.code;
  const keys = LISTENER_KEYS[at.listener];
  const where = `${at.listener} API: ${at.host}:${at.port}`;
  if (code === 'EADDRINUSE')
    return new FatalError(`${where} is already in use by another process: change ${keys.key} (environment variable ${keys.env}) or stop the other process`, EXIT_CONFIGURATION, { cause: error });
  if (code === 'EACCES')
    return new FatalError(`${where}: permission denied (ports below 1024 need privileges): change ${keys.key} (environment variable ${keys.env})`, EXIT_CONFIGURATION, { cause: error });
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
    return new FatalError(`${where}: this machine has no such address: change ${keys.hostKey} (environment variable ${keys.hostEnv})`, EXIT_CONFIGURATION, { cause: error });
  return null;
}

/** PostgreSQL SQLSTATE codes an operator causes by configuration (PostgreSQL docs, Appendix A "Error Codes"). */
const POSTGRES_CONFIGURATION_ERRORS: Record<string, string> = {
  '28P01': 'password authentication failed',
  '28000': 'the server refused this user or host (pg_hba.conf, or the role does not exist)',
  '3D000': 'the database does not exist',
  '42501': 'permission denied (the user needs CREATE on the schema to run migrations)',
  '3F000': 'the schema in ?search_path= does not exist',
  '53300': 'too many connections',
  '57P03': 'the server is starting up or shutting down',
};

const DSN_HINT = 'check dsn (environment variable DSN)';

/**
 * A storage failure (opening, pinging or migrating the database) as a FatalError; null if it is not one Kairos
 * recognises. `description` is the storage's credential-free description ("postgres db:5432/kairos").
 */
export function storageFailure(error: unknown, description: string): FatalError | null {
  // The migrator wraps the driver's error ("migration x failed: …"); the code is on its cause.
  let e = error as Coded | null;
  while (e && !e.code && (e as { cause?: unknown }).cause) e = (e as { cause?: unknown }).cause as Coded;
  const code = e?.code;
  const message = e?.message ?? '';
  if (description.startsWith('postgres')) {
    const target = `PostgreSQL (${description.replace(/^postgres /, '')})`;
    if (code === 'ECONNREFUSED') return new FatalError(`cannot connect to ${target}: connection refused (is the server running and listening there?): ${DSN_HINT}`, EXIT_CONFIGURATION, { cause: error });
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new FatalError(`cannot connect to ${target}: the host name does not resolve: ${DSN_HINT}`, EXIT_CONFIGURATION, { cause: error });
    if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return new FatalError(`cannot connect to ${target}: the host is unreachable (${code}): ${DSN_HINT}`, EXIT_CONFIGURATION, { cause: error });
    if (code && POSTGRES_CONFIGURATION_ERRORS[code]) return new FatalError(`${target}: ${POSTGRES_CONFIGURATION_ERRORS[code]} (SQLSTATE ${code}): ${DSN_HINT}`, EXIT_CONFIGURATION, { cause: error });
    if (/self.signed certificate|does not support SSL|SSL/i.test(message)) return new FatalError(`${target}: TLS negotiation failed (${message}): check sslmode in dsn (environment variable DSN)`, EXIT_CONFIGURATION, { cause: error });
    if (code === 'ERR_INVALID_URL' || /Invalid URL/.test(message)) return new FatalError(`dsn is not a valid postgres:// URL: ${DSN_HINT}`, EXIT_CONFIGURATION, { cause: error });
    return null;
  }
  if (description.startsWith('sqlite')) {
    const path = description.replace(/^sqlite /, '');
    const directory = path.replace(/\/[^/]*$/, '') || '/';
    const readOnly = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'SQLITE_READONLY' || code === 'SQLITE_READONLY_DIRECTORY' || code === 'SQLITE_CANTOPEN' || /readonly|read-only|unable to open database file/i.test(message);
    if (readOnly)
      return new FatalError(`cannot write the SQLite database ${path}: the directory ${directory} (or the file) is not writable by this user (SQLite also writes ${path}-wal and -shm beside it): make it writable or ${DSN_HINT}`, EXIT_CONFIGURATION, { cause: error });
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') return new FatalError(`${path} is not a SQLite database (or it is damaged): ${DSN_HINT}`, EXIT_CONFIGURATION, { cause: error });
    return null;
  }
  return null;
}

/** True when the stack trace should be printed: `--debug` on the command line, or log.level debug/trace. */
export function wantsStack(argv: readonly string[], logLevel?: string): boolean {
  return argv.includes('--debug') || logLevel === 'debug' || logLevel === 'trace';
}

/** The single line (and, when asked for, the stack) printed for an error that ends a command, and its exit code. */
export function renderFatal(error: unknown, showStack: boolean): { text: string; exitCode: number } {
  const fatal = error instanceof FatalError ? error : null;
  const line = fatal
    ? `kairos: ${fatal.message}\n`
    : `kairos: unexpected error: ${(error as Error)?.message ?? String(error)}${showStack ? '' : ' (run again with --debug for the stack trace)'}\n`;
  const root = fatal?.cause ?? error;
  const stack = showStack && root instanceof Error && root.stack ? `${root.stack}\n` : '';
  return { text: line + stack, exitCode: fatal ? fatal.exitCode : EXIT_FAILURE };
}
