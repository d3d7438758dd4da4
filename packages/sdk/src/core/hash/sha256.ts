import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { Sha256Hasher } from '../platform.js';

/**
 * A portable incremental SHA-256 (WebCrypto has no streaming digest), for hashing bytes
 * while they arrive.
 */
export function portableSha256(): Sha256Hasher {
  const hash = sha256.create();
  return {
    update(chunk) {
      hash.update(chunk);
    },
    digestHex() {
      return bytesToHex(hash.digest());
    },
  };
}

/** SHA-256 of bytes already in memory: WebCrypto when present (native speed), else the portable one. */
export async function sha256Hex(bytes: Uint8Array, create: () => Sha256Hasher = portableSha256): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (subtle) {
    try {
      const digest = await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
      return bytesToHex(new Uint8Array(digest));
    } catch {
      // Some runtimes refuse shared or detached buffers: hash in JS instead.
    }
  }
  const h = create();
  h.update(bytes);
  return h.digestHex();
}
