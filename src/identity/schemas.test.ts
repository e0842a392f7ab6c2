import { describe, expect, it } from 'vitest';
import { IdentitySchemas } from './schemas.js';

const base64 = (document: unknown) => 'base64://' + Buffer.from(JSON.stringify(document)).toString('base64');
const load = (document: unknown) => new IdentitySchemas([{ id: 'default', url: base64(document) }], 'default', 'http://127.0.0.1:4433/');

describe('identity schemas are checked against their JSON Schema draft at start', () => {
  it('a draft-07 schema with a wrong keyword value is refused with the path and the rule it breaks', () => {
    const broken = { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { traits: { type: 'objekt' } } };
    expect(() => load(broken)).toThrow(/^schema is invalid: data\/properties\/traits\/type must be equal to one of the allowed values/);
  });

  it('a schema without $schema is read as draft-07 and checked too', () => {
    expect(() => load({ type: 'object', required: 'traits' })).toThrow(/^schema is invalid: data\/required must be array/);
  });

  it('a valid draft-07 schema loads and validates traits', () => {
    const schemas = load({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { traits: { type: 'object', properties: { email: { type: 'string', format: 'email' } } } } });
    expect(schemas.getDefault().schema.type).toBe('object');
  });

  it('a schema declaring a draft ajv does not know is refused rather than checked against the wrong one', () => {
    expect(() => load({ $schema: 'https://example.com/not-a-draft', type: 'object' })).toThrow(/no schema with key or ref/);
  });
});
