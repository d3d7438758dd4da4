import { createReadStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { S3Config } from '../config.js';
import { FerryError } from '../errors.js';
import { SHA256_HEX, type BlobStore, type ByteRange, type StoredBlob } from './blob-store.js';

function isNotFound(err: unknown): boolean {
  if (err instanceof S3ServiceException) {
    return err.$metadata.httpStatusCode === 404 || err.name === 'NoSuchKey' || err.name === 'NotFound';
  }
  return false;
}

/** Blobs as objects `<prefix>blobs/sha256/<sha256>` in an S3 bucket (AWS, MinIO, any S3-protocol store). */
export class S3BlobStore implements BlobStore {
  readonly kind = 's3';
  private readonly client: S3Client;

  constructor(private readonly config: S3Config) {
    this.client = new S3Client({
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      // Checksums only where S3 demands them: with streamed bodies, some S3-protocol servers
      // store the aws-chunked framing instead of the bytes.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  private keyOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new FerryError('artifact_not_found', 'not a SHA-256 digest');
    return `${this.config.prefix}blobs/sha256/${sha256}`;
  }

  async putFile(sha256: string, filePath: string, size: number): Promise<void> {
    // One PUT (or one completed multipart upload) is atomic in S3: the object appears whole.
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.config.bucket,
        Key: this.keyOf(sha256),
        Body: createReadStream(filePath, { highWaterMark: 1024 * 1024 }),
        ContentLength: size,
        ContentType: 'application/octet-stream',
      },
      partSize: 16 * 1024 * 1024,
      queueSize: 2,
    });
    await upload.done();
    await unlink(filePath);
  }

  async stat(sha256: string): Promise<{ size: number } | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: this.keyOf(sha256) }));
      return { size: head.ContentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async read(sha256: string, range?: ByteRange): Promise<Readable> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.config.bucket,
          Key: this.keyOf(sha256),
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      if (!(out.Body instanceof Readable)) throw new Error('S3 returned no readable body');
      return out.Body;
    } catch (err) {
      if (isNotFound(err)) throw new FerryError('artifact_not_found', `artifact ${sha256} is not stored`);
      throw err;
    }
  }

  async delete(sha256: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: this.keyOf(sha256) }));
  }

  async *list(): AsyncIterable<StoredBlob> {
    const prefix = `${this.config.prefix}blobs/sha256/`;
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const obj of page.Contents ?? []) {
        const sha256 = obj.Key?.slice(prefix.length) ?? '';
        if (SHA256_HEX.test(sha256)) {
          yield { sha256, size: obj.Size ?? 0, lastModified: obj.LastModified ?? new Date(0) };
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async ping(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.config.bucket }));
  }

  async presignedUrl(sha256: string, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.config.bucket, Key: this.keyOf(sha256) }), {
      expiresIn: expiresInSeconds,
    });
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
