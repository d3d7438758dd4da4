import type { Prisma } from './generated/prisma/client.js';
import type { PrismaClient } from './db/database.js';

type Tx = Prisma.TransactionClient | PrismaClient;

export interface AuditEntry {
  projectId: string | null;
  actor: string;
  action: string;
  target?: string;
  details?: Prisma.InputJsonValue;
  requestId?: string;
}

/** Appends to the audit log, inside the caller's transaction when given one. */
export async function recordAudit(tx: Tx, entry: AuditEntry): Promise<void> {
  await tx.auditEvent.create({
    data: {
      projectId: entry.projectId,
      actor: entry.actor,
      action: entry.action,
      target: entry.target ?? null,
      details: entry.details ?? undefined,
      requestId: entry.requestId ?? null,
    },
  });
}
