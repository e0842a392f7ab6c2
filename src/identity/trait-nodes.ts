import { inputNode, type NodeGroup, type UiNode, type InputType } from '../ui/nodes.js';
import type { IdentitySchema } from './schemas.js';

/** One input per top-level trait, typed from the schema, prefilled with `values`. */
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
      value: values[field.name],
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
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const out: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  for (const field of schema.traitFields()) {
    const value = out[field.name];
    if (typeof value !== 'string') continue;
    if (value === '' && !field.required) {
      delete out[field.name];
      continue;
    }
    if ((field.type === 'number' || field.type === 'integer') && value.trim() !== '' && Number.isFinite(Number(value))) out[field.name] = Number(value);
    else if (field.type === 'boolean' && (value === 'true' || value === 'false')) out[field.name] = value === 'true';
  }
  return out;
}
