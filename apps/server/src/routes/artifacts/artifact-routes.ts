import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import parseRange from 'range-parser';
import { Negotiator } from '@fastify/accept-negotiator';
import { Sha256Hex } from '@ferry/protocol';
import { FerryError } from '../../errors.js';
import { ArtifactLookup } from '../../delivery/artifact-lookup.js';

const IMMUTABLE = 'public, max-age=31536000, immutable';
const PRESIGN_SECONDS = 15 * 60;

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

// Brotli first: it is the smaller of the two stored encodings.
const encodings = new Negotiator({ supportedValues: ['br', 'gzip', 'identity'] });

export const artifactRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const artifacts = new ArtifactLookup(app.db.prisma);
  app.get(
    '/v1/artifacts/:sha256',
    {
      schema: {
        tags: ['device'],
        summary: 'Immutable artifact bytes, by SHA-256. Supports Range, ETag and If-None-Match.',
        security: [{ appKey: [] }],
        params: Type.Object({ sha256: Sha256Hex }),
      },
    },
    async (request, reply) => {
      const { projectId } = await app.appKeys.require(request.headers['x-ferry-app-key']);
      const { sha256 } = request.params;
      // Only bytes that belong to this app key's project are served.
      const artifact = await artifacts.get(projectId, sha256);
      if (!artifact) throw new FerryError('artifact_not_found', `no artifact ${sha256} for this app`);
      const stored = artifact.encodings;
      const accept = request.headers['accept-encoding'];
      const chosen = stored.length && typeof accept === 'string' ? encodings.negotiate(accept) : null;
      const copy = chosen && chosen !== 'identity' ? stored.find((e) => e.encoding === chosen) : undefined;
      // The representation served: the bytes themselves, or a pre-compressed copy of them.
      const blob = copy ? copy.blobSha : sha256;
      const size = copy ? copy.size : artifact.size;
      const etag = copy ? `"${sha256}.${copy.encoding}"` : `"${sha256}"`;
      reply.header('etag', etag).header('cache-control', IMMUTABLE).header('accept-ranges', 'bytes');
      if (stored.length) reply.header('vary', 'Accept-Encoding');
      if (copy) reply.header('content-encoding', copy.encoding);

      if (etagMatches(request.headers['if-none-match'], etag)) return reply.status(304).send();

      if (app.config.artifactDelivery === 'redirect' && app.blobs.presignedUrl) {
        // S3 serves the object without Content-Encoding metadata: redirect to the plain bytes.
        const url = await app.blobs.presignedUrl(sha256, PRESIGN_SECONDS);
        reply.removeHeader('content-encoding');
        reply.removeHeader('vary');
        return reply.header('etag', `"${sha256}"`).header('cache-control', 'private, no-store').redirect(url, 302);
      }

      reply.header('content-type', 'application/octet-stream');
      const rangeHeader = request.headers.range;
      const ifRange = request.headers['if-range'];
      if (rangeHeader && (!ifRange || ifRange === etag)) {
        const ranges = parseRange(size, rangeHeader, { combine: true });
        if (ranges === -1) {
          reply.header('content-range', `bytes */${size}`);
          throw new FerryError('range_not_satisfiable', `range "${rangeHeader}" is outside the ${size} bytes of this artifact`);
        }
        // A malformed header (-2) or several ranges: answer the whole artifact, as RFC 9110 allows.
        if (ranges !== -2 && ranges.type === 'bytes' && ranges.length === 1) {
          const range = ranges[0]!;
          const stream = await app.blobs.read(blob, range);
          return reply
            .status(206)
            .header('content-range', `bytes ${range.start}-${range.end}/${size}`)
            .header('content-length', range.end - range.start + 1)
            .send(stream);
        }
      }
      const stream = await app.blobs.read(blob);
      return reply.header('content-length', size).send(stream);
    },
  );
};
