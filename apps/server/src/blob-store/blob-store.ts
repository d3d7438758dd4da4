import type { Readable } from 'node:stream';

/** A byte range, both ends inclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface StoredBlob {
  sha256: string;
  size: number;
  lastModified: Date;
}

/**
 * Content-addressed bytes: every blob is stored under the SHA-256 of its content.
 * Writes are atomic: a reader sees the whole blob or no blob.
 */
export interface BlobStore {
  readonly kind: 'local' | 's3';
  /** Moves a fully written, already hashed local file into the store. The file is consumed. */
  putFile(sha256: string, filePath: string, size: number): Promise<void>;
  /** Size of the stored blob, or null when it is not there. */
  stat(sha256: string): Promise<{ size: number } | null>;
  /** The blob's bytes, or a range of them. Throws `artifact_not_found` when missing. */
  read(sha256: string, range?: ByteRange): Promise<Readable>;
  delete(sha256: string): Promise<void>;
  list(): AsyncIterable<StoredBlob>;
  /** Throws when the store cannot be reached. */
  ping(): Promise<void>;
  /** A time-limited URL the client can fetch the blob from directly, where the store has one. */
  presignedUrl?(sha256: string, expiresInSeconds: number): Promise<string>;
  close(): Promise<void>;
}

export const SHA256_HEX = /^[0-9a-f]{64}$/;
