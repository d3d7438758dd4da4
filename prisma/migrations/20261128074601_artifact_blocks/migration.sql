-- AlterTable
ALTER TABLE "Artifact" ADD COLUMN     "blocks" JSONB;
