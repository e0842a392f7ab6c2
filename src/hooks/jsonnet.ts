/**
 * Jsonnet for web_hook bodies, rendered by a real Jsonnet implementation: jrsonnet (a complete Rust implementation
 * of the language and its standard library) compiled to WebAssembly, from `@arakoodev/jsonnet` (the wasm ships in
 * the npm package; nothing is compiled or downloaded at install, and it runs on Node 20).
 *
 * Kratos (request/builder.go) evaluates the template with `ctx` as a top-level argument (`vm.TLACode("ctx", json)`),
 * so templates are written `function(ctx) { … }`. The package exposes external variables but not top-level
 * arguments, so the same call is made in Jsonnet itself: the context is passed as an external string, parsed with
 * `std.parseJson`, and the template (an expression) is applied to it by name, `template(ctx=…)`; a template that
 * is not a function is used as it is (Jsonnet ignores top-level arguments for non-functions too).
 *
 * Imports (`import`, `importstr`) are not available in this build ("operation not supported on this platform"),
 * which matches Kratos's sandboxed Jsonnet VM that refuses imports from the file system.
 */
import { createRequire } from 'node:module';
import type JsonnetVm from '@arakoodev/jsonnet';

/**
 * The WebAssembly module is loaded on first use, synchronously: most deployments configure no Jsonnet at all, and
 * loading it at start costs about 9 MiB of memory and 30 ms (issue 12: idle memory and start-up).
 */
const requireFromHere = createRequire(import.meta.url);
let JsonnetClass: typeof JsonnetVm | null = null;
const Jsonnet = () => (JsonnetClass ??= requireFromHere('@arakoodev/jsonnet') as typeof JsonnetVm);

/** Kratos's `request.ErrCancel`: a template that fails with `error "cancel"` cancels the request (not an error). */
export class JsonnetCancelled extends Error {
  constructor() {
    super('request cancelled by the Jsonnet template');
  }
}

export class JsonnetError extends Error {}

/** Names that cannot collide with a template's own locals. */
const CONTEXT_VAR = 'kairos_web_hook_ctx';

/** A runtime error whose message is exactly "cancel" (go-jsonnet: `RUNTIME ERROR: cancel`; jrsonnet: `runtime error: cancel`). */
const CANCEL = /^runtime error: cancel(\n|$)/i;

/** Evaluates `template` with `ctx` as Kratos passes it and returns the JSON value it produces. */
export function renderJsonnet(template: string, ctx: unknown): unknown {
  const vm = new (Jsonnet())();
  try {
    vm.extString(CONTEXT_VAR, JSON.stringify(ctx));
    const snippet = `local ${CONTEXT_VAR} = std.parseJson(std.extVar('${CONTEXT_VAR}'));\nlocal template = (\n${template}\n);\nif std.isFunction(template) then template(ctx=${CONTEXT_VAR}) else template\n`;
    // This binding reports errors as the returned text instead of throwing; a successful evaluation is always JSON.
    const output = vm.evaluateSnippet(snippet);
    try {
      return JSON.parse(output);
    } catch {
      if (CANCEL.test(output)) throw new JsonnetCancelled();
      throw new JsonnetError(output.split('\n').slice(0, 3).join(' ').slice(0, 500));
    }
  } finally {
    vm.destroy();
  }
}
