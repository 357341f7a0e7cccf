/**
 * Hosts on one Linux machine, as network namespaces (root only), for the multi-host tests and
 * `pnpm bench:distributed --hosts`: every host is a namespace with one veth (`eth0`, its own
 * private address) into a bridge that lives in a namespace of its own (the switch), so every
 * connection between hosts crosses real interfaces and nothing touches the machine's own network.
 * Optionally one veth from the root namespace (created here, removed with the switch) lets this
 * process reach the hosts as a client of its own address.
 *
 * Names are `sqt<creator pid in base 36>-<random>-<host>`: namespaces and links of a creator that
 * is gone are removed by removeStaleNetworks (every createNetwork calls it), and a process exit
 * removes its own.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { isAlive, run, which } from './exec';

const PREFIX = 'sqt';

export interface NetHost {
  /** the name given to createNetwork */
  name: string;
  /** the network namespace */
  ns: string;
  /** its address on the network */
  address: string;
  /** its interface inside the namespace */
  dev: string;
  /** prepend to a command to run it on this host (`ip netns exec <ns>`) */
  launcher: readonly string[];
  /** starts a command on this host */
  spawn(cmd: string, args: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** runs a command on this host to its end; rejects with its output on failure */
  run(cmd: string, args: readonly string[], opts?: { env?: NodeJS.ProcessEnv }): Promise<string>;
  /** takes the host's link down (a cut cable): its address stays, nothing gets through */
  linkDown(): Promise<void>;
  linkUp(): Promise<void>;
}

export interface Network {
  /** the /24 the hosts share, e.g. 10.213.57.0/24 */
  subnet: string;
  switchNs: string;
  hosts: Record<string, NetHost>;
  /** this process's own address on the network (`client: true`), through a veth it created */
  clientAddress?: string;
  /** ends every process left in the namespaces and removes them and their links */
  destroy(): Promise<void>;
}

export type NetnsProbe = { ok: true } | { ok: false; reason: string };

function ipBinary(): string | undefined {
  return which('ip', `${process.env.PATH ?? ''}:/usr/sbin:/sbin:/usr/bin:/bin`);
}

async function ip(args: string[]): Promise<string> {
  const bin = ipBinary();
  if (!bin) throw new Error('the ip command (iproute2) is not installed');
  return run(bin, args);
}

function ipSync(args: string[]): void {
  const bin = ipBinary();
  if (bin) spawnSync(bin, args, { stdio: 'ignore' });
}

function tag(): string {
  return `${PREFIX}${process.pid.toString(36)}-${randomBytes(2).toString('hex')}`;
}

/**
 * Whether network namespaces, veth pairs and bridges can be made here: tries making one of each
 * (and removes them). The reason says why not.
 */
export async function probeNetns(): Promise<NetnsProbe> {
  if (os.platform() !== 'linux')
    return { ok: false, reason: `network namespaces need Linux (this is ${os.platform()})` };
  if (!ipBinary()) return { ok: false, reason: 'the ip command (iproute2) is not installed' };
  const ns = `${tag()}-probe`;
  try {
    await ip(['netns', 'add', ns]);
    await ip(['-n', ns, 'link', 'add', 'pa', 'type', 'veth', 'peer', 'name', 'pb']);
    await ip(['-n', ns, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', ns, 'link', 'set', 'pa', 'master', 'br0']);
    return { ok: true };
  } catch (err) {
    const uid = process.getuid?.();
    const first = (err as Error).message
      .split('\n')
      .find((l) => /rror|denied|not permitted|ermission/.test(l));
    return {
      ok: false,
      reason: `cannot create a network namespace with a veth pair and a bridge (uid ${uid ?? '?'}${uid === 0 ? '' : ', not root'}): ${(first ?? (err as Error).message).trim()}`,
    };
  } finally {
    await ip(['netns', 'del', ns]).catch(() => undefined);
  }
}

function creatorOf(name: string): number | undefined {
  const m = new RegExp(`^${PREFIX}([0-9a-z]+)-`).exec(name);
  return m ? parseInt(m[1]!, 36) : undefined;
}

/** Removes the namespaces and root-namespace links left by creators that are no longer alive. */
export async function removeStaleNetworks(): Promise<string[]> {
  const removed: string[] = [];
  const list = await ip(['netns', 'list']).catch(() => '');
  for (const line of list.split('\n')) {
    const ns = line.trim().split(/\s+/)[0];
    if (!ns) continue;
    const pid = creatorOf(ns);
    if (pid === undefined || isAlive(pid)) continue;
    await killAll(ns);
    await ip(['netns', 'del', ns]).catch(() => undefined);
    removed.push(ns);
  }
  const links = await ip(['-o', 'link', 'show']).catch(() => '');
  for (const m of links.matchAll(/^\d+:\s+([^:@\s]+)/gm)) {
    const name = m[1]!;
    const pid = creatorOf(name);
    if (pid === undefined || isAlive(pid)) continue;
    await ip(['link', 'del', name]).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

/** SIGKILLs the processes still in a namespace (ones this module's user started there). */
async function killAll(ns: string): Promise<void> {
  const pids = await ip(['netns', 'pids', ns]).catch(() => '');
  for (const p of pids.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** A /24 in 10.213.0.0/16 that no address or route of this machine uses. */
async function pickSubnet(): Promise<string> {
  const used = `${await ip(['-4', '-o', 'addr', 'show'])}\n${await ip(['-4', 'route', 'show', 'table', 'all'])}`;
  for (let i = 0; i < 64; i++) {
    const third = 1 + (randomBytes(1)[0]! % 254);
    const net = `10.213.${third}`;
    if (!used.includes(`${net}.`) && !used.includes('10.213.0.0/16')) return net;
  }
  throw new Error('no free /24 in 10.213.0.0/16 for a test network');
}

/**
 * Makes one namespace per host name, each with `eth0` on a bridge in a switch namespace; hosts
 * get .10, .11, ... in the order given (or `addresses[name]`, a last octet), the root client .1.
 */
export async function createNetwork(opts: {
  hosts: readonly string[];
  /** a veth from this (the root) namespace onto the switch, so that this process can dial the hosts */
  client?: boolean;
  /** last octets by host name */
  addresses?: Record<string, number>;
}): Promise<Network> {
  await removeStaleNetworks();
  const id = tag();
  const net = await pickSubnet();
  const switchNs = `${id}-sw`;
  const created: string[] = [];
  const rootLink = `${id}`;
  let destroyed = false;
  const destroySync = (): void => {
    if (destroyed) return;
    for (const ns of created) {
      const r = spawnSync(ipBinary() ?? 'ip', ['netns', 'pids', ns], { encoding: 'utf8' });
      for (const p of (r.stdout ?? '').split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(p), 'SIGKILL');
        } catch {
          // gone
        }
      }
      ipSync(['netns', 'del', ns]);
    }
    ipSync(['link', 'del', rootLink]);
  };
  process.once('exit', destroySync);
  const hosts: Record<string, NetHost> = {};
  try {
    await ip(['netns', 'add', switchNs]);
    created.push(switchNs);
    await ip(['-n', switchNs, 'link', 'set', 'lo', 'up']);
    await ip(['-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', switchNs, 'link', 'set', 'br0', 'up']);
    let next = 10;
    for (const [i, name] of opts.hosts.entries()) {
      if (!/^[a-z0-9]{1,12}$/.test(name))
        throw new Error(`host name ${JSON.stringify(name)}: expected [a-z0-9]{1,12}`);
      const ns = `${id}-${name}`;
      const octet = opts.addresses?.[name] ?? next++;
      const address = `${net}.${octet}`;
      await ip(['netns', 'add', ns]);
      created.push(ns);
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      const port = `p${i}`;
      await ip(['-n', switchNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await ip(['-n', switchNs, 'link', 'set', port, 'master', 'br0']);
      await ip(['-n', switchNs, 'link', 'set', port, 'up']);
      await ip(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      const launcher = [ipBinary()!, 'netns', 'exec', ns];
      hosts[name] = {
        name,
        ns,
        address,
        dev: 'eth0',
        launcher,
        spawn: (cmd, args, o = {}) => spawn(launcher[0]!, [...launcher.slice(1), cmd, ...args], o),
        run: (cmd, args, o = {}) => run(launcher[0]!, [...launcher.slice(1), cmd, ...args], o),
        linkDown: async () => void (await ip(['-n', ns, 'link', 'set', 'eth0', 'down'])),
        linkUp: async () => void (await ip(['-n', ns, 'link', 'set', 'eth0', 'up'])),
      };
    }
    let clientAddress: string | undefined;
    if (opts.client) {
      clientAddress = `${net}.1`;
      await ip(['link', 'add', rootLink, 'type', 'veth', 'peer', 'name', 'pc', 'netns', switchNs]);
      await ip(['-n', switchNs, 'link', 'set', 'pc', 'master', 'br0']);
      await ip(['-n', switchNs, 'link', 'set', 'pc', 'up']);
      await ip(['addr', 'add', `${clientAddress}/24`, 'dev', rootLink]);
      await ip(['link', 'set', rootLink, 'up']);
    }
    return {
      subnet: `${net}.0/24`,
      switchNs,
      hosts,
      ...(clientAddress ? { clientAddress } : {}),
      async destroy() {
        if (destroyed) return;
        for (const ns of [...created].reverse()) {
          await killAll(ns);
          await ip(['netns', 'del', ns]).catch(() => undefined);
        }
        // Gone with its peer in the switch namespace; this covers a switch that outlived its name.
        await ip(['link', 'del', rootLink]).catch(() => undefined);
        destroyed = true;
        process.removeListener('exit', destroySync);
      },
    };
  } catch (err) {
    destroySync();
    destroyed = true;
    process.removeListener('exit', destroySync);
    throw err;
  }
}

/** The namespace a process runs in (`ip netns identify`), or '' for none that has a name. */
export async function namespaceOf(pid: number): Promise<string> {
  return (await ip(['netns', 'identify', String(pid)])).trim();
}
