-- AlterTable
ALTER TABLE "Model" ADD COLUMN     "variantSettings" JSONB;

-- CreateTable
CREATE TABLE "ArtifactEncoding" (
    "artifactSha" TEXT NOT NULL,
    "encoding" TEXT NOT NULL,
    "blobSha" TEXT NOT NULL,
    "size" BIGINT NOT NULL,

    CONSTRAINT "ArtifactEncoding_pkey" PRIMARY KEY ("artifactSha","encoding")
);

-- CreateTable
CREATE TABLE "Job" (
    "id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "versionId" TEXT NOT NULL,
    "variantKind" TEXT,
    "status" TEXT NOT NULL DEFAULT 'queued',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "maxAttempts" INTEGER NOT NULL DEFAULT 3,
    "progress" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "stage" TEXT,
    "error" TEXT,
    "lockedBy" TEXT,
    "lockedUntil" TIMESTAMP(3),
    "runAfter" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "Job_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "ArtifactEncoding_blobSha_idx" ON "ArtifactEncoding"("blobSha");

-- CreateIndex
CREATE INDEX "Job_status_runAfter_idx" ON "Job"("status", "runAfter");

-- CreateIndex
CREATE INDEX "Job_versionId_idx" ON "Job"("versionId");

-- AddForeignKey
ALTER TABLE "ArtifactEncoding" ADD CONSTRAINT "ArtifactEncoding_artifactSha_fkey" FOREIGN KEY ("artifactSha") REFERENCES "Artifact"("sha256") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ArtifactEncoding" ADD CONSTRAINT "ArtifactEncoding_blobSha_fkey" FOREIGN KEY ("blobSha") REFERENCES "Artifact"("sha256") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Job" ADD CONSTRAINT "Job_versionId_fkey" FOREIGN KEY ("versionId") REFERENCES "Version"("id") ON DELETE CASCADE ON UPDATE CASCADE;
