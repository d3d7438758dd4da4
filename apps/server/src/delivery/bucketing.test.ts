import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { admitted, rolloutBucket } from './bucketing.js';

const ids = Array.from({ length: 100_000 }, (_, i) => `install-${i.toString(36)}-${(i * 7919) % 1000}`);

describe('rollout bucketing', () => {
  it('admits 10 % ± 0.5 % of 100,000 devices at a 10 % stage', () => {
    const share = ids.filter((id) => admitted('ro_abc', id, 10)).length / ids.length;
    expect(share).toBeGreaterThan(0.095);
    expect(share).toBeLessThan(0.105);
  });

  it('keeps every admitted device when the stage goes from 10 to 50 %', () => {
    const at10 = ids.filter((id) => admitted('ro_abc', id, 10));
    const at50 = new Set(ids.filter((id) => admitted('ro_abc', id, 50)));
    expect(at10.every((id) => at50.has(id))).toBe(true);
    expect(at50.size / ids.length).toBeGreaterThan(0.49);
    expect(at50.size / ids.length).toBeLessThan(0.51);
  });

  it('buckets each rollout independently', () => {
    const a = new Set(ids.filter((id) => admitted('ro_one', id, 10)));
    const both = ids.filter((id) => a.has(id) && admitted('ro_two', id, 10)).length;
    // Independent 10 % samples overlap on about 1 % of devices, not 10 %.
    expect(both / ids.length).toBeLessThan(0.015);
  });

  it('gives the same assignment when computed by another server process', () => {
    const sample = ids.slice(0, 2000);
    const script = `
      import { rolloutBucket } from './bucketing.ts';
      const ids = JSON.parse(process.argv[1]);
      process.stdout.write(JSON.stringify(ids.map((id) => rolloutBucket('ro_abc', id))));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, JSON.stringify(sample)], {
      cwd: fileURLToPath(new URL('.', import.meta.url)),
      encoding: 'utf8',
    });
    expect(JSON.parse(out)).toEqual(sample.map((id) => rolloutBucket('ro_abc', id)));
  });

  it('is the first 32 bits of SHA-256(rollout id, NUL, device id), so assignments never move between releases', () => {
    for (const id of [...ids.slice(0, 200), 'appareil-é-設備-📱', '', ' ']) {
      const digest = createHash('sha256').update('ro_abc').update('\u0000').update(id).digest();
      expect(rolloutBucket('ro_abc', id)).toBe((digest.readUInt32BE(0) / 2 ** 32) * 100);
    }
  });
});
