/**
 * Runs wrk (Debian's `wrk` package, a C load generator on epoll) for the resolve benchmark: a
 * Lua script pre-formats every request once (so the per-request cost in Lua is a table lookup)
 * and prints wrk's summary as one machine-readable line. The load generator's CPU is read with
 * the shell's `times` builtin after wrk exits.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface WrkResult {
  requests: number;
  seconds: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  p50: number; // ms
  p99: number; // ms
  max: number; // ms
  cpuSeconds: number; // wrk's user + system CPU
}

/** The wrk binary, or null when it is not installed (`apt-get install -y wrk`). */
export function findWrk(): string | null {
  const bin = process.env.BENCH_WRK ?? 'wrk';
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return r.error ? null : bin;
}

const luaString = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

/**
 * Writes the Lua script for requests to `path` with `headers`, cycling through `bodies` (one
 * request per body; none: one bodiless request). Each thread starts at a different offset.
 */
export async function writeWrkScript(
  dir: string,
  name: string,
  req: { method: string; path: string; headers?: Record<string, string>; bodies?: string[] },
): Promise<string> {
  const bodiesFile = join(dir, `${name}.bodies`);
  const script = join(dir, `${name}.lua`);
  const bodies = req.bodies ?? [];
  if (bodies.some((b) => b.includes('\n'))) throw new Error('wrk bodies must be single-line');
  await writeFile(bodiesFile, bodies.join('\n') + (bodies.length ? '\n' : ''));
  const headers = Object.entries(req.headers ?? {})
    .map(([k, v]) => `[${luaString(k)}] = ${luaString(v)}`)
    .join(', ');
  await writeFile(
    script,
    `
local threads = {}
local counter = 0
function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local requests = {}
local n = 0
local i = 0
function init(args)
  local headers = { ${headers} }
  for body in io.lines(${luaString(bodiesFile)}) do
    n = n + 1
    requests[n] = wrk.format(${luaString(req.method)}, ${luaString(req.path)}, headers, body)
  end
  if n == 0 then
    n = 1
    requests[1] = wrk.format(${luaString(req.method)}, ${luaString(req.path)}, headers)
  end
  i = (offset or 0) * 7919 % n
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return requests[i]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format("FERRY_WRK %d %d %d %d %d %d %d %d %d %d\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`,
  );
  return script;
}

/** One wrk run of `seconds` against `url` with `connections` over `threads` threads. */
export async function runWrk(opts: {
  bin: string;
  url: string;
  script: string;
  connections: number;
  threads: number;
  seconds: number;
}): Promise<WrkResult> {
  const args = [
    '-t', String(opts.threads),
    '-c', String(opts.connections),
    '-d', `${opts.seconds}s`,
    '--timeout', '10s',
    '-s', opts.script,
    opts.url,
  ];
  // `times` after wrk: the second line is the children's user and system time.
  const child = spawn('sh', ['-c', '"$0" "$@"; s=$?; times; exit $s', opts.bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const m = /^FERRY_WRK (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$/m.exec(out);
  if (code !== 0 || !m) throw new Error(`wrk failed (exit ${code}): ${err || out}`);
  const [requests, duration, connect, read, write, status, timeout, p50, p99, max] = m.slice(1).map(Number) as number[];
  const timeLines = out.trim().split('\n').filter((l) => /^\d+m[\d.]+s \d+m[\d.]+s$/.test(l));
  const children = timeLines[timeLines.length - 1] ?? '0m0s 0m0s';
  const secs = (t: string): number => {
    const mm = /^(\d+)m([\d.]+)s$/.exec(t);
    return mm ? Number(mm[1]) * 60 + Number(mm[2]) : 0;
  };
  const [user, sys] = children.split(' ');
  return {
    requests: requests!,
    seconds: duration! / 1e6,
    errors: { connect: connect!, read: read!, write: write!, status: status!, timeout: timeout! },
    p50: p50! / 1000,
    p99: p99! / 1000,
    max: max! / 1000,
    cpuSeconds: secs(user!) + secs(sys!),
  };
}
