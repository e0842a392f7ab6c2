import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { IdentitySchemas } from './schemas.js';
import { coerceTraits, flattenTraits, traitNodes } from './trait-nodes.js';
import { unflatten } from '../http/request.js';

// Kratos's quickstart identity schema (contrib/quickstart/kratos/email-password): traits.name is {first, last}.
const quickstart = new URL('../../test/compat/fixtures/quickstart-identity.schema.json', import.meta.url);
const schemas = new IdentitySchemas(
  [{ id: 'default', url: 'base64://' + Buffer.from(readFileSync(quickstart)).toString('base64') }],
  'default',
  'http://127.0.0.1:4433/',
);
const schema = schemas.getDefault();

describe('nested traits (Kratos renders leaf properties only)', () => {
  it('renders traits.name.first and traits.name.last, never an input for the object traits.name', () => {
    const names = traitNodes(schema, 'password').map((n) => (n.attributes as { name: string }).name);
    expect(names).toEqual(['traits.email', 'traits.name.first', 'traits.name.last']);
  });

  it('labels leaves with their own title and requires only what the schema requires at every level', () => {
    const nodes = traitNodes(schema, 'password');
    const first = nodes.find((n) => (n.attributes as { name: string }).name === 'traits.name.first')!;
    expect(first.meta.label?.text).toBe('First Name');
    expect((first.attributes as { required?: boolean }).required).toBeFalsy();
    const email = nodes.find((n) => (n.attributes as { name: string }).name === 'traits.email')!;
    expect((email.attributes as { required?: boolean }).required).toBe(true);
  });

  it('prefills nested values', () => {
    const nodes = traitNodes(schema, 'profile', { email: 'a@example.org', name: { first: 'Ada', last: 'Lovelace' } });
    const values = Object.fromEntries(nodes.map((n) => [(n.attributes as { name: string }).name, (n.attributes as { value?: unknown }).value]));
    expect(values).toEqual({ 'traits.email': 'a@example.org', 'traits.name.first': 'Ada', 'traits.name.last': 'Lovelace' });
  });

  it('a form post of the rendered fields validates against the schema (the 4000023 dead end is gone)', () => {
    const body = unflatten({ 'traits.email': 'a@example.org', 'traits.name.first': 'Ada', 'traits.name.last': '' });
    const traits = coerceTraits(schema, body.traits);
    expect(traits).toEqual({ email: 'a@example.org', name: { first: 'Ada' } });
    expect(schema.validateTraits(traits)).toEqual([]);
  });

  it('a string where the schema wants an object is still rejected, not coerced', () => {
    const traits = coerceTraits(schema, { email: 'a@example.org', name: 'Ada' });
    expect(schema.validateTraits(traits).map((p) => p.message.id)).toContain(4000023);
  });

  it('flattens nested traits back to node names to keep values in a re-rendered form', () => {
    expect(flattenTraits({ email: 'a@example.org', name: { first: 'Ada' } })).toEqual({ 'traits.email': 'a@example.org', 'traits.name.first': 'Ada' });
  });
});
