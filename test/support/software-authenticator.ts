/**
 * An honest software authenticator for integration tests (WebAuthn Level 2 §6, "none" attestation, ES256): it makes
 * real key pairs with node:crypto, real authenticator data, real CBOR attestation objects (@levischuck/tiny-cbor,
 * the CBOR library @simplewebauthn/server itself uses) and real ECDSA signatures, so the server's verifier runs
 * unchanged. Knobs let a test be the misbehaving client: another RP ID or origin, no user verification, an old
 * signature counter (a cloned key).
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { encodeCBOR } from '@levischuck/tiny-cbor';

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();
const b64url = (data: Uint8Array) => Buffer.from(data).toString('base64url');

/** Flags of authenticator data (WebAuthn Level 2 §6.1). */
const UP = 0x01;
const UV = 0x04;
const AT = 0x40;

export interface StoredKey {
  keyId: Buffer;
  privateKey: KeyObject;
  rpId: string;
  userHandle: string | null;
  signCount: number;
}

export interface CeremonyOptions {
  /** The RP ID the authenticator scopes the answer to (default: the options' rp.id / rpId). */
  rpId?: string;
  origin?: string;
  userVerified?: boolean;
  /** Overrides the signature counter sent (a cloned key sends an old one). */
  signCount?: number;
}

export class SoftwareAuthenticator {
  readonly keys: StoredKey[] = [];

  constructor(readonly origin: string) {}

  private cose(publicKey: KeyObject): Uint8Array {
    const jwk = publicKey.export({ format: 'jwk' });
    // RFC 8152 §13.1.1: kty 2 (EC2), alg -7 (ES256), crv 1 (P-256), x, y.
    return encodeCBOR(new Map<number, number | Uint8Array>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]));
  }

  private clientData(type: string, challenge: string, origin: string): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  /** navigator.credentials.create with Kratos's `{publicKey}` options; returns the JSON webauthn.js would send. */
  create(options: { publicKey: any }, opts: CeremonyOptions = {}): string {
    const pk = options.publicKey;
    const rpId = opts.rpId ?? pk.rp.id;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyId = randomBytes(32);
    const key: StoredKey = { keyId, privateKey, rpId, userHandle: pk.user?.id ?? null, signCount: 0 };
    this.keys.push(key);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(keyId.length);
    const flags = UP | AT | (opts.userVerified === false ? 0 : UV);
    const authData = Buffer.concat([sha256(rpId), Buffer.from([flags]), Buffer.alloc(4), Buffer.alloc(16), idLength, keyId, this.cose(publicKey)]);
    const attestationObject = encodeCBOR(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', new Uint8Array(authData)]]) as never);
    const clientDataJSON = this.clientData('webauthn.create', pk.challenge, opts.origin ?? this.origin);
    return JSON.stringify({
      id: b64url(keyId),
      rawId: b64url(keyId),
      type: 'public-key',
      response: { attestationObject: b64url(attestationObject), clientDataJSON: b64url(clientDataJSON), transports: ['usb'] },
    });
  }

  /** navigator.credentials.get: signs with the first stored key the options allow (or `key`). */
  get(options: { publicKey: any }, opts: CeremonyOptions & { key?: StoredKey } = {}): string {
    const pk = options.publicKey;
    const allowed: string[] = (pk.allowCredentials ?? []).map((c: any) => c.id);
    const key = opts.key ?? this.keys.find((k) => allowed.length === 0 || allowed.includes(b64url(k.keyId)));
    if (!key) throw new Error('NotAllowedError: no key for these options');
    const rpId = opts.rpId ?? key.rpId;
    key.signCount += 1;
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(opts.signCount ?? key.signCount);
    const flags = UP | (opts.userVerified === false ? 0 : UV);
    const authData = Buffer.concat([sha256(rpId), Buffer.from([flags]), counter]);
    const clientDataJSON = this.clientData('webauthn.get', pk.challenge, opts.origin ?? this.origin);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), key.privateKey);
    return JSON.stringify({
      id: b64url(key.keyId),
      rawId: b64url(key.keyId),
      type: 'public-key',
      response: { authenticatorData: b64url(authData), clientDataJSON: b64url(clientDataJSON), signature: b64url(signature), userHandle: key.userHandle ?? undefined },
    });
  }
}
