// The bare-route floor: the same Fastify as Kairos, in its own process, one GET route that serialises a JSON object
// of about the size and shape of a whoami answer (a session with its identity), nothing else (no plugins, no hooks,
// no logger). Usage: node fastify.mjs <port>
import Fastify from 'fastify';

const port = Number(process.argv[2] ?? 4600);
const app = Fastify({ logger: false });
const now = new Date().toISOString();
const session = {
  id: '0b7a3c8e-5a1e-4c55-9d8f-4d3c0c8f0a11',
  active: true,
  expires_at: now,
  authenticated_at: now,
  authenticator_assurance_level: 'aal1',
  authentication_methods: [{ method: 'password', aal: 'aal1', completed_at: now }],
  issued_at: now,
  identity: {
    id: '6c2f1a9e-3e7b-4f1d-8a2c-1b9d4e5f6a7b',
    schema_id: 'default',
    schema_url: 'http://127.0.0.1:4433/schemas/ZGVmYXVsdA',
    state: 'active',
    state_changed_at: now,
    traits: { email: 'someone@bench.example' },
    verifiable_addresses: [{ id: '1f0e2d3c-4b5a-4968-8776-a5b4c3d2e1f0', value: 'someone@bench.example', verified: false, via: 'email', status: 'pending', created_at: now, updated_at: now }],
    recovery_addresses: [{ id: '2a1b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d', value: 'someone@bench.example', via: 'email', created_at: now, updated_at: now }],
    metadata_public: null,
    created_at: now,
    updated_at: now,
  },
  devices: [],
};
app.get('/floor', async () => ({ ...session }));
await app.listen({ host: '127.0.0.1', port });
process.stdout.write(`ready ${port}\n`);
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
