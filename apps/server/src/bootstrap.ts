import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from './config.js';
import type { PrismaClient } from './db/database.js';
import { isUniqueViolation } from './errors.js';
import { newAdminSecret, newAppKey, newId } from './auth/secrets.js';
import { recordAudit } from './audit.js';

export interface BootstrapResult {
  /** The bootstrap admin secret: FERRY_ADMIN_TOKEN, or the one kept in the data dir. */
  adminToken: string;
  /** Where the generated secret is kept; null when it came from FERRY_ADMIN_TOKEN. */
  adminTokenFile: string | null;
  /** True when this start generated the secret (it is printed once). */
  adminTokenGenerated: boolean;
  defaultProject: string;
  defaultAppKey: string;
}

async function bootstrapSecret(config: Config): Promise<Pick<BootstrapResult, 'adminToken' | 'adminTokenFile' | 'adminTokenGenerated'>> {
  if (config.adminToken) return { adminToken: config.adminToken, adminTokenFile: null, adminTokenGenerated: false };
  const file = join(config.dataDir, 'admin-token');
  try {
    const stored = (await readFile(file, 'utf8')).trim();
    if (stored) return { adminToken: stored, adminTokenFile: file, adminTokenGenerated: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = newAdminSecret();
  await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' }).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  await chmod(file, 0o600);
  const kept = (await readFile(file, 'utf8')).trim();
  return { adminToken: kept, adminTokenFile: file, adminTokenGenerated: kept === secret };
}

/** Makes sure the `default` project and its first app key exist, and finds the bootstrap admin secret. */
export async function bootstrap(prisma: PrismaClient, config: Config): Promise<BootstrapResult> {
  const secret = await bootstrapSecret(config);
  let project = await prisma.project.findUnique({ where: { name: 'default' } });
  if (!project) {
    try {
      project = await prisma.$transaction(async (tx) => {
        const created = await tx.project.create({ data: { id: newId('prj'), name: 'default' } });
        await tx.appKey.create({ data: { id: newId('ak'), projectId: created.id, key: newAppKey(), name: 'default' } });
        await recordAudit(tx, { projectId: created.id, actor: 'system', action: 'project.create', target: 'default' });
        return created;
      });
    } catch (err) {
      // Another replica created it first.
      if (!isUniqueViolation(err)) throw err;
      project = await prisma.project.findUniqueOrThrow({ where: { name: 'default' } });
    }
  }
  const key = await prisma.appKey.findFirst({
    where: { projectId: project.id, revokedAt: null },
    orderBy: { createdAt: 'asc' },
  });
  return { ...secret, defaultProject: project.name, defaultAppKey: key?.key ?? '(all app keys revoked)' };
}
