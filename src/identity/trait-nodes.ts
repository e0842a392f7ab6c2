import { inputNode, type NodeGroup, type UiNode, type InputType } from '../ui/nodes.js';
import type { IdentitySchema } from './schemas.js';

/** One input per leaf trait (`traits.name.first`, as Kratos renders nested traits), typed from the schema, prefilled with `values`. */
export function traitNodes(schema: IdentitySchema, group: NodeGroup, values: Record<string, unknown> = {}): UiNode[] {
  return schema.traitFields().map((field) => {
    let type: InputType = 'text';
    if (field.format === 'email') type = 'email';
    else if (field.format === 'uri') type = 'url';
    else if (field.format === 'tel') type = 'tel';
    else if (field.type === 'number' || field.type === 'integer') type = 'number';
    else if (field.type === 'boolean') type = 'checkbox';
    const autocomplete = field.format === 'email' ? 'email' : field.name === 'name' ? 'name' : undefined;
    return inputNode(group, `traits.${field.name}`, type, {
      value: valueAt(values, field.path),
      required: field.required,
      autocomplete,
      label: { id: 1070002, text: field.title ?? field.name, type: 'info', context: { title: field.title ?? field.name } },
    });
  });
}

/**
 * Form posts deliver every value as a string: convert each trait to the type its schema declares, so
 * `traits.age=42` validates as the integer it means. Unknown shapes are passed through for the schema to reject.
 */
export function coerceTraits(schema: IdentitySchema, raw: unknown): unknown {
  if (!isRecord(raw)) return raw;
  const out = structuredClone(raw);
  for (const field of schema.traitFields()) {
    const parent = containerAt(out, field.path.slice(0, -1));
    const key = field.path.at(-1)!;
    if (!parent) continue;
    const value = parent[key];
    if (typeof value !== 'string') continue;
    if (value === '' && !field.required) {
      delete parent[key];
      continue;
    }
    if ((field.type === 'number' || field.type === 'integer') && value.trim() !== '' && Number.isFinite(Number(value))) parent[key] = Number(value);
    else if (field.type === 'boolean' && (value === 'true' || value === 'false')) parent[key] = value === 'true';
  }
  return out;
}

/** `{name: {first: "A"}}` → `{"traits.name.first": "A"}`: the node names of a re-rendered form, with their values. */
export function flattenTraits(traits: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const walk = (value: unknown, prefix: string): void => {
    if (isRecord(value)) for (const [k, v] of Object.entries(value)) walk(v, `${prefix}.${k}`);
    else out[prefix] = value;
  };
  if (isRecord(traits)) for (const [k, v] of Object.entries(traits)) walk(v, `traits.${k}`);
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function valueAt(values: Record<string, unknown>, path: string[]): unknown {
  let value: unknown = values;
  for (const key of path) value = isRecord(value) ? value[key] : undefined;
  return value;
}

/** The object holding a nested trait, or null when the submission has another shape there (the schema rejects it). */
function containerAt(root: Record<string, unknown>, path: string[]): Record<string, unknown> | null {
  let value: unknown = root;
  for (const key of path) {
    if (!isRecord(value)) return null;
    value = value[key];
  }
  return isRecord(value) ? value : null;
}
