import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('gives the embedded defaults on an empty environment', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 8080, host: '127.0.0.1', databaseUrl: null, s3: null, maxUploadBytes: 2 * 1024 ** 3 });
    expect(c.dataDir).toMatch(/data$/);
  });

  it('reads PostgreSQL and S3 settings', () => {
    const c = loadConfig({
      DATABASE_URL: 'postgresql://u@db:5432/ferry',
      FERRY_S3_BUCKET: 'models',
      FERRY_S3_ENDPOINT: 'http://minio:9000',
      FERRY_S3_REGION: 'eu-west-1',
    });
    expect(c.databaseUrl).toBe('postgresql://u@db:5432/ferry');
    expect(c.s3).toEqual({ bucket: 'models', endpoint: 'http://minio:9000', region: 'eu-west-1', forcePathStyle: true, prefix: '' });
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL'],
    [{ FERRY_MAX_UPLOAD_BYTES: '-1' }, 'FERRY_MAX_UPLOAD_BYTES'],
    [{ FERRY_S3_FORCE_PATH_STYLE: 'maybe', FERRY_S3_BUCKET: 'b' }, 'FERRY_S3_FORCE_PATH_STYLE'],
    [{ FERRY_S3_ENDPOINT: 'http://minio:9000' }, 'FERRY_S3_BUCKET'],
    [{ FERRY_ADMIN_TOKEN: 'short' }, 'FERRY_ADMIN_TOKEN'],
    [{ FERRY_PUBLIC_URL: 'ftp://x' }, 'FERRY_PUBLIC_URL'],
    [{ FERRY_ARTIFACT_DELIVERY: 'redirect' }, 'FERRY_ARTIFACT_DELIVERY'],
  ])('refuses %j naming %s', (env, variable) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toContain(variable);
  });
});
