import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The SQL a migrator needs: multi-statement scripts and parameterised queries. */
export interface SqlRunner {
  exec(sql: string): Promise<void>;
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
}

/** prisma/migrations at the repository root, from src/db or dist/db alike. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../../prisma/migrations', import.meta.url));

interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationOutcome {
  applied: string[];
  /** Applied migrations whose file changed since; Prisma warns about these too. */
  modified: string[];
}

// The table `prisma migrate deploy` keeps, so either tool can take over from the other.
const PRISMA_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

async function readMigrations(dir: string): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/**
 * Applies pending migrations in order, each in its own transaction together with its
 * `_prisma_migrations` row, so a crash leaves either the whole migration or none of it.
 * The caller serialises concurrent migrators (an advisory lock on PostgreSQL).
 */
export async function applyMigrations(db: SqlRunner, dir = MIGRATIONS_DIR): Promise<MigrationOutcome> {
  await db.exec(PRISMA_MIGRATIONS_TABLE);
  const files = await readMigrations(dir);
  const rows = await db.query<{ migration_name: string; checksum: string }>(
    `SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
  );
  const done = new Map(rows.map((r) => [r.migration_name, r.checksum]));
  const outcome: MigrationOutcome = { applied: [], modified: [] };
  for (const file of files) {
    const previous = done.get(file.name);
    if (previous !== undefined) {
      if (previous !== file.checksum) outcome.modified.push(file.name);
      continue;
    }
    await db.exec('BEGIN');
    try {
      await db.exec(file.sql);
      await db.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
         VALUES ($1, $2, $3, now(), now(), 1)`,
        [randomUUID(), file.checksum, file.name],
      );
      await db.exec('COMMIT');
    } catch (err) {
      await db.exec('ROLLBACK');
      throw new Error(`migration ${file.name} failed: ${(err as Error).message}`, { cause: err });
    }
    outcome.applied.push(file.name);
  }
  return outcome;
}
