import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { PrismaClient } from '../db/database.js';
import type { Prisma } from '../generated/prisma/client.js';

/** A manifest-signing key as the key ring holds it. */
export interface SigningKeyEntry {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  status: 'active' | 'previous';
  createdAt: Date;
  retiresAt: Date | null;
}

/** Default time a replaced key stays published: well past any manifest it signed (they expire in hours). */
export const DEFAULT_OVERLAP_MS = 7 * 24 * 3600 * 1000;
const REFRESH_MS = 30_000;
/**
 * How long a new key is published before it signs: the JWKS is cacheable for 5 minutes
 * (`max-age=300`) and replicas reload keys every 30 s, so a device that meets the new `kid` and
 * fetches the JWKS again finds it there.
 */
export const PUBLISH_LEAD_MS = 6 * 60 * 1000;

/**
 * Ed25519 keys that sign manifests, kept in the database (which, on the embedded default,
 * lives in the data dir). The newest active key signs; keys it replaced stay in the JWKS
 * until their overlap window ends, so devices holding manifests signed by them can still verify.
 */
export class KeyRing {
  private keys: SigningKeyEntry[] = [];
  private jwksCache: { keys: JWK[] } | null = null;
  private predecessor: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly refreshMs: number;
  private readonly publishLeadMs: number;
  private readonly now: () => number;

  constructor(
    private readonly prisma: PrismaClient,
    options: { refreshMs?: number; publishLeadMs?: number; now?: () => number } = {},
  ) {
    this.refreshMs = options.refreshMs ?? REFRESH_MS;
    this.publishLeadMs = options.publishLeadMs ?? PUBLISH_LEAD_MS;
    this.now = options.now ?? Date.now;
  }

  /**
   * Reloads the keys every `refreshMs` in the background, so that a rotation made on another
   * replica changes what this one signs with (and publishes) without waiting for a JWKS request.
   */
  startRefresh(onError: (err: unknown) => void): void {
    this.timer ??= setInterval(() => void this.reload().catch(onError), this.refreshMs);
    this.timer.unref();
  }

  stopRefresh(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Loads the keys, creating the first one on a new installation. */
  async init(): Promise<void> {
    await this.reload();
    if (!this.keys.some((k) => k.status === 'active')) {
      await this.insertKey();
      await this.reload();
    }
  }

  private async insertKey(db: Pick<PrismaClient, 'signingKey'> = this.prisma): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const kid = `k_${new Date().toISOString().slice(0, 10).replaceAll('-', '')}_${randomBytes(6).toString('hex')}`;
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'EdDSA' };
    await db.signingKey.create({
      data: {
        kid,
        status: 'active',
        publicJwk: publicJwk as unknown as Prisma.InputJsonValue,
        privateJwk: privateJwk as unknown as Prisma.InputJsonValue,
      },
    });
    return kid;
  }

  private async reload(): Promise<void> {
    const now = new Date();
    const rows = await this.prisma.signingKey.findMany({
      where: { status: { in: ['active', 'previous'] }, OR: [{ retiresAt: null }, { retiresAt: { gt: now } }] },
      orderBy: { createdAt: 'desc' },
    });
    this.keys = await Promise.all(
      rows.map(async (row) => ({
        kid: row.kid,
        privateKey: (await importJWK(row.privateJwk as JWK, 'EdDSA')) as CryptoKey,
        publicJwk: row.publicJwk as JWK,
        status: row.status as 'active' | 'previous',
        createdAt: row.createdAt,
        retiresAt: row.retiresAt,
      })),
    );
    // The key made just before the newest one: it signs during the newest one's publish lead,
    // unless it has been retired (a rotation without overlap, for a compromised key).
    const [, before] = await this.prisma.signingKey.findMany({ orderBy: { createdAt: 'desc' }, take: 2, select: { kid: true } });
    this.predecessor = before && this.keys.some((k) => k.kid === before.kid) ? before.kid : null;
    this.jwksCache = null;
  }

  /**
   * The key that signs new manifests: the newest active one, once it has been published for
   * {@link PUBLISH_LEAD_MS}; until then the key it replaced, while that one is still published
   * (a rotation with no overlap, for a compromised key, switches at once).
   */
  signer(): SigningKeyEntry {
    const newest = this.keys.find((k) => k.status === 'active');
    if (!newest) throw new Error('no active signing key');
    const now = this.now();
    if (now - newest.createdAt.getTime() >= this.publishLeadMs) return newest;
    const replaced = this.keys.find((k) => k.kid === this.predecessor && (!k.retiresAt || k.retiresAt.getTime() > now));
    return replaced ?? newest;
  }

  /** The published keys (JWKS): the signer and every key still in its overlap window. */
  jwks(): { keys: JWK[] } {
    const now = this.now();
    this.jwksCache ??= {
      keys: this.keys.filter((k) => !k.retiresAt || k.retiresAt.getTime() > now).map((k) => k.publicJwk),
    };
    return this.jwksCache;
  }

  /**
   * Adds a new signing key. The keys it replaces stay published for `overlapMs`, then retire.
   * Returns the new key id.
   */
  async rotate(overlapMs = DEFAULT_OVERLAP_MS): Promise<{ kid: string; retiring: { kid: string; retiresAt: string }[] }> {
    const retiresAt = new Date(Date.now() + overlapMs);
    // One rotation at a time (also across replicas): two at once would leave two active keys.
    const { kid, previous } = await this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`LOCK TABLE "SigningKey" IN SHARE ROW EXCLUSIVE MODE`;
      const previous = await tx.signingKey.findMany({ where: { status: 'active' }, select: { kid: true } });
      const kid = await this.insertKey(tx);
      await tx.signingKey.updateMany({
        where: { kid: { in: previous.map((p) => p.kid) } },
        data: { status: 'previous', retiresAt },
      });
      await tx.signingKey.updateMany({ where: { status: 'previous', retiresAt: { lte: new Date() } }, data: { status: 'retired' } });
      return { kid, previous };
    });
    await this.reload();
    return { kid, retiring: previous.map((p) => ({ kid: p.kid, retiresAt: retiresAt.toISOString() })) };
  }
}
