import { resolve } from 'node:path';

/** Ferry's configuration, read once from the environment at start-up. */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | null;
  s3: S3Config | null;
  publicUrl: string | null;
  maxUploadBytes: number;
  adminToken: string | null;
  /** How artifacts are delivered from S3: streamed through Ferry, or redirected to a presigned URL. */
  artifactDelivery: 'stream' | 'redirect';
  logLevel: string;
  /** Background jobs (variant builds) this replica runs at once; 0 runs none here. */
  jobConcurrency: number;
  /** How long a job stays claimed without a heartbeat before another server takes it over. */
  jobLeaseMs: number;
  /** Give a new installation's `default` project a published demo model. */
  seedDemo: boolean;
}

export interface S3Config {
  bucket: string;
  endpoint: string | null;
  region: string;
  forcePathStyle: boolean;
  /** Key prefix inside the bucket. */
  prefix: string;
}

/** A configuration value is wrong; the message names the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

const GiB = 1024 ** 3;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

type Env = Record<string, string | undefined>;

function str(env: Env, name: string): string | null {
  const v = env[name];
  return v === undefined || v.trim() === '' ? null : v.trim();
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === null) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = str(env, name);
  if (raw === null) return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `expected true or false, got "${raw}"`);
}

function url(env: Env, name: string, protocols: string[]): string | null {
  const raw = str(env, name);
  if (raw === null) return null;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, `not a valid URL: "${raw}"`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `expected a ${protocols.join(' or ')} URL, got "${parsed.protocol}"`);
  }
  return raw;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = str(env, name);
  if (raw === null) return fallback;
  if (!allowed.includes(raw as T)) throw new ConfigError(name, `expected one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

/**
 * Reads and validates the configuration. Throws {@link ConfigError} naming the first wrong variable.
 * @example loadConfig(process.env)
 */
export function loadConfig(env: Env = process.env): Config {
  const bucket = str(env, 'FERRY_S3_BUCKET');
  const s3Endpoint = url(env, 'FERRY_S3_ENDPOINT', ['http:', 'https:']);
  if (!bucket && s3Endpoint) throw new ConfigError('FERRY_S3_BUCKET', 'required when FERRY_S3_ENDPOINT is set');
  const host = str(env, 'HOST') ?? '127.0.0.1';
  const adminToken = str(env, 'FERRY_ADMIN_TOKEN');
  if (adminToken !== null && adminToken.length < 16) {
    throw new ConfigError('FERRY_ADMIN_TOKEN', 'must be at least 16 characters');
  }
  const publicUrl = url(env, 'FERRY_PUBLIC_URL', ['http:', 'https:']);
  const artifactDelivery = oneOf(env, 'FERRY_ARTIFACT_DELIVERY', ['stream', 'redirect'] as const, 'stream');
  if (artifactDelivery === 'redirect' && !bucket) {
    throw new ConfigError('FERRY_ARTIFACT_DELIVERY', '"redirect" needs an S3 store (FERRY_S3_BUCKET)');
  }
  return {
    port: int(env, 'PORT', 8080, 0, 65535),
    host,
    dataDir: resolve(str(env, 'FERRY_DATA_DIR') ?? './data'),
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    s3: bucket
      ? {
          bucket,
          endpoint: s3Endpoint,
          region: str(env, 'FERRY_S3_REGION') ?? str(env, 'AWS_REGION') ?? 'us-east-1',
          forcePathStyle: bool(env, 'FERRY_S3_FORCE_PATH_STYLE', s3Endpoint !== null),
          prefix: (str(env, 'FERRY_S3_PREFIX') ?? '').replace(/^\/+/, ''),
        }
      : null,
    publicUrl: publicUrl?.replace(/\/+$/, '') ?? null,
    maxUploadBytes: int(env, 'FERRY_MAX_UPLOAD_BYTES', 2 * GiB, 1, Number.MAX_SAFE_INTEGER),
    adminToken,
    artifactDelivery,
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    jobConcurrency: int(env, 'FERRY_JOB_CONCURRENCY', 1, 0, 64),
    jobLeaseMs: int(env, 'FERRY_JOB_LEASE_SECONDS', 30, 2, 3600) * 1000,
    seedDemo: bool(env, 'FERRY_DEMO', true),
  };
}
