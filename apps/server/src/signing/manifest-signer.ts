import { SignJWT } from 'jose';
import { MANIFEST_TYPE, type ManifestPayload } from '@ferry/protocol';
import type { KeyRing } from './key-ring.js';

/** Signs manifest payloads as compact JWS (EdDSA over Ed25519) with the key ring's signer. */
export class ManifestSigner {
  constructor(private readonly keys: KeyRing) {}

  /** The id of the key new manifests are signed with (it changes when keys rotate). */
  currentKid(): string {
    return this.keys.signer().kid;
  }

  async sign(payload: ManifestPayload): Promise<string> {
    const key = this.keys.signer();
    return new SignJWT(payload as unknown as Record<string, unknown>)
      .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: MANIFEST_TYPE })
      .sign(key.privateKey);
  }
}
