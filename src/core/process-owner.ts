// Who a process is, and whether one recorded earlier is still running: the owner checks shared
// by the download cache (owners of partial downloads) and the writer lock (owner of an output).
// On the same machine a dead owner is seen at once: its pid is gone, or the pid now belongs to
// a process that started at another time (pid reuse). On another machine (a shared file system
// on a cluster) nothing can be asked, so callers fall back to the age of a heartbeat.
import { readFileSync, readlinkSync } from "node:fs";
import os from "node:os";

let host: string | null = null;

/** This machine's host name, reduced to [A-Za-z0-9-] and 40 characters (usable in file names). */
export function hostToken(): string {
  host ??=
    os
      .hostname()
      .replace(/[^A-Za-z0-9-]/g, "-")
      .slice(0, 40) || "host";
  return host;
}

/** Does a process with this pid exist (on this machine, in this pid namespace)? */
export function pidExists(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * When the process `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat), or
 * null where /proc is not there (not Linux) or the process is gone. With the pid, it names one
 * process: a pid reused by a later process has another start time.
 */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const start = fields[19];
    return start && /^\d+$/.test(start) ? start : null;
  } catch {
    return null;
  }
}

let machine: { bootId: string | null; pidNamespace: string | null } | null = null;

/**
 * This kernel's boot id and this process's pid namespace (Linux; null elsewhere). Two records
 * with the same host name but another boot id or pid namespace are not comparable by pid (a
 * rebooted machine, another container, another node with the same name).
 */
export function machineIdentity(): { bootId: string | null; pidNamespace: string | null } {
  if (!machine) {
    let bootId: string | null = null;
    let pidNamespace: string | null = null;
    try {
      bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || null;
    } catch {
      bootId = null;
    }
    try {
      pidNamespace = readlinkSync("/proc/self/ns/pid");
    } catch {
      pidNamespace = null;
    }
    machine = { bootId, pidNamespace };
  }
  return machine;
}
