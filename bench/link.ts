// A network link of limited bandwidth between the bench process and a server: the server runs in
// a network namespace of its own, reached over a veth pair whose two ends are each shaped by a
// token bucket (tc's `tbf`). Loopback is faster than any link a device has (7 MiB in ~5 ms); this
// shows what a load costs when the download takes as long as it does on a real network.
// Needs root and iproute2 (`ip`, `tc`). No added latency: this kernel has no `netem` qdisc.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LimitedLink {
  /** The server's address on the link. */
  host: string;
  /** Prefix that starts a command inside the server's namespace. */
  wrap: string[];
  /** Removes the namespace and both ends of the link. */
  remove: () => Promise<void>;
}

/** `rate` as tc takes it: `100mbit`, `1gbit`, … */
export async function limitedLink(rate: string): Promise<LimitedLink> {
  if (!/^\d+(\.\d+)?[kmg]?bit$/.test(rate)) throw new Error(`a link rate looks like 100mbit or 1gbit, not "${rate}"`);
  // One id per process: its own namespace, interface names (≤ 15 characters) and /30 subnet.
  const id = process.pid % 16_384;
  const ns = `ferry-bench-${id}`;
  const [outer, inner] = [`fbo${id}`, `fbi${id}`];
  const subnet = { third: id >> 6, fourth: (id & 63) << 2 }; // 10.213.0.0/16 cut into 16 384 /30s
  const [hostIp, serverIp] = [1, 2].map((n) => `10.213.${subnet.third}.${subnet.fourth + n}`) as [string, string];
  const ip = (...args: string[]) => run('ip', args);
  const inNs = (...args: string[]) => run('ip', ['netns', 'exec', ns, ...args]);
  // Burst of 64 KiB: a bucket large enough for the rate at the kernel's timer, small against 7 MiB.
  const shape = ['root', 'tbf', 'rate', rate, 'burst', '64kb', 'latency', '50ms'];
  const existing = await run('ip', ['netns', 'list']).then((r) => r.stdout, () => '');
  if (existing.split('\n').some((line) => line.split(' ')[0] === ns)) {
    throw new Error(`network namespace ${ns} already exists (left by a killed run?): ip netns del ${ns}; ip link del ${outer}`);
  }
  // Only what this call made is removed again (deleting the namespace removes the veth pair and its qdiscs).
  let made = false;
  const remove = async () => {
    if (made) await ip('netns', 'del', ns).catch(() => undefined);
    made = false;
  };
  try {
    await ip('netns', 'add', ns);
    made = true;
    await ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner, 'netns', ns);
    await inNs('ip', 'link', 'set', inner, 'up');
    await inNs('ip', 'link', 'set', 'lo', 'up');
    await inNs('ip', 'addr', 'add', `${serverIp}/30`, 'dev', inner);
    await inNs('tc', 'qdisc', 'add', 'dev', inner, ...shape);
    await ip('addr', 'add', `${hostIp}/30`, 'dev', outer);
    await ip('link', 'set', outer, 'up');
    await run('tc', ['qdisc', 'add', 'dev', outer, ...shape]);
  } catch (err) {
    await remove();
    throw new Error(`could not make a ${rate} link (root and iproute2 needed): ${(err as Error).message}`);
  }
  return { host: serverIp, wrap: ['ip', 'netns', 'exec', ns], remove };
}
