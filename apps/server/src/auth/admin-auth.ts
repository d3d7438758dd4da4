import type { FastifyRequest } from 'fastify';
import type { PrismaClient } from '../db/database.js';
import { FerryError } from '../errors.js';
import type { Principal } from './principal.js';
import { secretsEqual, sha256Hex } from './secrets.js';
import type { Role } from '@ferry/protocol';

const LAST_USED_RESOLUTION_MS = 60_000;

/** Turns `Authorization: Bearer …` into a {@link Principal}, or throws 401. */
export class AdminAuthenticator {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly bootstrapSecret: string,
  ) {}

  async authenticate(request: FastifyRequest): Promise<Principal> {
    const header = request.headers.authorization;
    if (!header) throw new FerryError('unauthenticated', 'send an admin token as "Authorization: Bearer <token>"');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) throw new FerryError('invalid_token', 'the Authorization header must be "Bearer <token>"');
    const secret = match[1];
    if (secretsEqual(secret, this.bootstrapSecret)) {
      return { id: 'bootstrap', name: 'bootstrap', role: 'admin', projectId: null };
    }
    const token = await this.prisma.adminToken.findUnique({ where: { secretHash: sha256Hex(secret) } });
    if (!token) throw new FerryError('invalid_token', 'unknown admin token');
    if (token.revokedAt) throw new FerryError('invalid_token', 'this admin token was revoked');
    const now = Date.now();
    if (!token.lastUsedAt || now - token.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      await this.prisma.adminToken.update({ where: { id: token.id }, data: { lastUsedAt: new Date(now) } });
    }
    return { id: token.id, name: token.name, role: token.role as Role, projectId: token.projectId };
  }
}
