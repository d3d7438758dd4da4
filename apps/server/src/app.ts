import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { AdminAuthenticator } from './auth/admin-auth.js';
import type { BlobStore } from './blob-store/blob-store.js';
import { createBlobStore } from './blob-store/create-blob-store.js';
import { bootstrap, type BootstrapResult } from './bootstrap.js';
import type { Config } from './config.js';
import { openDatabase, type Database } from './db/database.js';
import { registerErrorHandler } from './plugins/error-handler.js';
import { registerMetrics } from './plugins/metrics.js';
import { requestIdOf } from './plugins/request-id.js';
import { requestLogger } from './plugins/request-logger.js';
import { registerDeviceCors } from './plugins/device-cors.js';
import { registerValidation } from './plugins/validation.js';
import { backfillBlockDigests } from './registry/block-backfill.js';
import { ArtifactCollector } from './registry/artifact-gc.js';
import { appKeyRoutes } from './routes/app-keys/app-key-routes.js';
import { artifactRoutes } from './routes/artifacts/artifact-routes.js';
import { auditRoutes } from './routes/audit/audit-routes.js';
import { healthRoutes } from './routes/health/health-routes.js';
import { modelRoutes } from './routes/models/model-routes.js';
import { projectRoutes } from './routes/projects/project-routes.js';
import { tokenRoutes } from './routes/tokens/token-routes.js';
import { versionRoutes } from './routes/versions/version-routes.js';
import { RESOLVE_BODY_LIMIT, resolveRoutes } from './routes/resolve/resolve-routes.js';
import { ResolveFastLane } from './routes/resolve/resolve-fast-lane.js';
import { deviceJsonParser } from './plugins/device-json.js';
import { ResolveRequest } from '@ferry/protocol';
import { keyRoutes } from './routes/keys/key-routes.js';
import { telemetryRoutes } from './routes/telemetry/telemetry-routes.js';
import { rolloutRoutes } from './routes/rollouts/rollout-routes.js';
import { AppKeyCache } from './delivery/app-key-cache.js';
import { ResolveService } from './delivery/resolve-service.js';
import { ServingStateCache } from './delivery/serving-state.js';
import { RolloutService } from './rollouts/rollout-service.js';
import { KeyRing } from './signing/key-ring.js';
import { JobQueue } from './jobs/job-queue.js';
import { JobRunner } from './jobs/job-runner.js';
import { storeSpooled } from './registry/version-upload.js';
import { jobRoutes } from './routes/jobs/job-routes.js';
import { exampleRoutes } from './routes/examples/example-routes.js';
import { DEMO_MODEL, seedDemoModel } from './demo/demo-model.js';
import { ManifestSigner } from './signing/manifest-signer.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    db: Database;
    blobs: BlobStore;
    adminAuth: AdminAuthenticator;
    /** Where uploads are spooled while they are hashed and checked. */
    uploadDir: string;
    bootstrapInfo: BootstrapResult;
    artifactGc: ArtifactCollector;
    keyRing: KeyRing;
    appKeys: AppKeyCache;
    serving: ServingStateCache;
    resolver: ResolveService;
    rollouts: RolloutService;
    jobQueue: JobQueue;
    jobRunner: JobRunner;
    /** `POST /v1/resolve` answered ahead of fastify's routing (see {@link ResolveFastLane}). */
    resolveFastLane: ResolveFastLane;
  }
}

export type FerryApp = FastifyInstance;

export interface BuildOptions {
  config: Config;
  logger?: FastifyServerOptions['logger'];
}

/** Builds the Ferry server: plugins, then the app's services, then the routes. */
export async function buildApp({ config, logger }: BuildOptions): Promise<FerryApp> {
  const lane = new ResolveFastLane();
  const app = Fastify({
    logger: logger ?? { level: config.logLevel },
    childLoggerFactory: requestLogger,
    bodyLimit: 1024 * 1024,
    requestIdHeader: false,
    genReqId: requestIdOf,
    serverFactory: lane.serverFactory,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Callback-style hooks: they run on every request, and cost less than async ones.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  registerErrorHandler(app);
  const compileBody = registerValidation(app);
  // Before any route is added: it gives each route its own metrics hook.
  const requestMetrics = registerMetrics(app);

  // External plugins.
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Ferry', version: '1', description: 'Admin and device API of Ferry.' },
      components: {
        securitySchemes: {
          adminToken: { type: 'http', scheme: 'bearer' },
          appKey: { type: 'apiKey', in: 'header', name: 'X-Ferry-App-Key' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  registerDeviceCors(app);

  // App services.
  await mkdir(config.dataDir, { recursive: true });
  const uploadDir = join(config.dataDir, 'tmp', 'uploads');
  // Spooled uploads from a previous process are never resumed: clear them.
  await rm(uploadDir, { recursive: true, force: true });
  await mkdir(uploadDir, { recursive: true });
  const db = await openDatabase(config);
  const blobs = createBlobStore(config);
  app.decorate('config', config);
  app.decorate('db', db);
  app.decorate('blobs', blobs);
  app.decorate('uploadDir', uploadDir);
  const info = await bootstrap(db.prisma, config);
  app.decorate('bootstrapInfo', info);
  app.decorate('adminAuth', new AdminAuthenticator(db.prisma, info.adminToken));
  const gc = new ArtifactCollector(db.prisma, blobs, app.log);
  app.decorate('artifactGc', gc);
  gc.start();
  const keyRing = new KeyRing(db.prisma);
  await keyRing.init();
  keyRing.startRefresh((err) => app.log.error({ err }, 'reloading the signing keys failed'));
  app.decorate('keyRing', keyRing);
  app.decorate('appKeys', new AppKeyCache(db.prisma));
  const serving = new ServingStateCache(db.prisma);
  app.decorate('serving', serving);
  serving.start();
  app.decorate(
    'resolver',
    new ResolveService(serving, new ManifestSigner(keyRing), { issuer: config.publicUrl ?? 'urn:ferry', publicUrl: config.publicUrl }),
  );
  const rollouts = new RolloutService(db.prisma, serving, app.log);
  app.decorate('rollouts', rollouts);
  rollouts.startScheduler();
  const jobQueue = new JobQueue(db.prisma, config.jobLeaseMs);
  app.decorate('jobQueue', jobQueue);
  const jobRunner = new JobRunner(
    { prisma: db.prisma, blobs, queue: jobQueue, serving, log: app.log, uploadDir, store: (spooled) => storeSpooled(app, spooled) },
    { concurrency: config.jobConcurrency, pollMs: 2000 },
  );
  app.decorate('jobRunner', jobRunner);
  app.addHook('onReady', async () => jobRunner.start());
  // Older artifacts get their block digests in the background (see registry/block-backfill.ts).
  const backfillStop = new AbortController();
  let backfill: Promise<unknown> = Promise.resolve();
  app.addHook('onReady', async () => {
    backfill = backfillBlockDigests({ prisma: db.prisma, blobs, serving, log: app.log }, backfillStop.signal).catch((err: unknown) =>
      app.log.error({ err }, 'adding block digests to stored artifacts failed'),
    );
  });
  app.addHook('onClose', async () => {
    backfillStop.abort(); // Stops reading the blob it is at.
    await jobRunner.stop();
    await backfill;
    rollouts.stopScheduler();
    keyRing.stopRefresh();
    serving.stop();
    gc.stop();
    await blobs.close();
    await db.close();
  });
  if (db.migrations.applied.length) app.log.info({ migrations: db.migrations.applied }, 'applied migrations');
  if (db.migrations.modified.length) {
    app.log.warn({ migrations: db.migrations.modified }, 'applied migrations whose files have changed since');
  }

  // Routes.
  await app.register(healthRoutes);
  await app.register(projectRoutes);
  await app.register(appKeyRoutes);
  await app.register(tokenRoutes);
  await app.register(modelRoutes);
  await app.register(versionRoutes);
  await app.register(auditRoutes);
  await app.register(artifactRoutes);
  await app.register(resolveRoutes);
  await app.register(keyRoutes);
  await app.register(telemetryRoutes);
  await app.register(rolloutRoutes);
  await app.register(jobRoutes);
  await app.register(exampleRoutes);
  app.decorate('resolveFastLane', lane);
  lane.enable({
    parse: deviceJsonParser(app),
    validate: compileBody(ResolveRequest),
    appKeys: app.appKeys,
    resolver: app.resolver,
    series: requestMetrics.of('POST', '/v1/resolve'),
    log: app.log,
    bodyLimit: RESOLVE_BODY_LIMIT,
  });
  app.addHook('preClose', (done) => {
    lane.disable();
    done();
  });
  if (config.seedDemo && (await seedDemoModel(app))) app.log.info({ model: DEMO_MODEL }, 'published the demo model in project "default"');
  return app;
}
