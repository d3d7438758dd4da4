-- AlterTable
ALTER TABLE "Model" ADD COLUMN     "servingPolicy" JSONB;

-- AlterTable
ALTER TABLE "Variant" ADD COLUMN     "precision" TEXT NOT NULL DEFAULT 'unknown';

-- AlterTable
ALTER TABLE "Version" ADD COLUMN     "compatibility" JSONB,
ADD COLUMN     "releasedAt" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "Rollout" (
    "id" TEXT NOT NULL,
    "modelId" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "stages" JSONB NOT NULL,
    "stageIndex" INTEGER NOT NULL DEFAULT 0,
    "targeting" JSONB NOT NULL DEFAULT '{}',
    "guardrails" JSONB NOT NULL DEFAULT '{}',
    "schedule" JSONB,
    "nextAdvanceAt" TIMESTAMP(3),
    "previousStableVersion" INTEGER,
    "events" JSONB NOT NULL DEFAULT '[]',
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Rollout_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SigningKey" (
    "kid" TEXT NOT NULL,
    "privateJwk" JSONB NOT NULL,
    "publicJwk" JSONB NOT NULL,
    "status" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "retiresAt" TIMESTAMP(3),

    CONSTRAINT "SigningKey_pkey" PRIMARY KEY ("kid")
);

-- CreateTable
CREATE TABLE "TelemetryEvent" (
    "id" BIGSERIAL NOT NULL,
    "projectId" TEXT NOT NULL,
    "eventId" TEXT NOT NULL,
    "deviceId" TEXT NOT NULL,
    "platform" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "model" TEXT NOT NULL,
    "version" INTEGER,
    "variant" TEXT,
    "backend" TEXT,
    "rolloutId" TEXT,
    "stage" INTEGER,
    "at" TIMESTAMP(3) NOT NULL,
    "receivedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "payload" JSONB NOT NULL,

    CONSTRAINT "TelemetryEvent_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Rollout_modelId_status_idx" ON "Rollout"("modelId", "status");

-- CreateIndex
CREATE INDEX "Rollout_status_nextAdvanceAt_idx" ON "Rollout"("status", "nextAdvanceAt");

-- CreateIndex
CREATE INDEX "TelemetryEvent_projectId_model_at_idx" ON "TelemetryEvent"("projectId", "model", "at");

-- CreateIndex
CREATE UNIQUE INDEX "TelemetryEvent_projectId_eventId_key" ON "TelemetryEvent"("projectId", "eventId");

-- AddForeignKey
ALTER TABLE "Rollout" ADD CONSTRAINT "Rollout_modelId_fkey" FOREIGN KEY ("modelId") REFERENCES "Model"("id") ON DELETE CASCADE ON UPDATE CASCADE;
