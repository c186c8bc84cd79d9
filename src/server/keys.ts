// API keys of the data service (docs/service.md, "Auth"). A key reads `ap_<id>_<secret>`: the id
// (16 hex digits) finds the entry, the secret (256 random bits, 64 hex digits) proves it. The
// keys file stores only the SHA-256 of the secret: the secret is random and long, so a fast hash
// is safe (no password to guess). The file is JSON, replaced atomically on every change, and
// re-read by a running server when it changes (a revoked key stops working within a second).

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmod, readFile, stat } from "node:fs/promises";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { FormatError, NotFoundError, UsageError } from "../core/errors.ts";

/** What a key may do: `admin` implies `write` implies `read`. */
export type Scope = "read" | "write" | "admin";

/** The scopes, weakest first. */
export const SCOPES: readonly Scope[] = ["read", "write", "admin"];

/** One key as the keys file stores it (no secret). */
export interface ApiKeyEntry {
  /** 16 hex digits; the `<id>` of `ap_<id>_<secret>`. */
  id: string;
  /** A name for people (who or what uses the key). */
  name: string;
  /** Every scope the key grants (its scope and the weaker ones). */
  scopes: Scope[];
  /** SHA-256 of the secret, hex. */
  sha256: string;
  /** ISO 8601. */
  createdAt: string;
}

/** A key as a request presented it, once checked. */
export interface ApiKeyIdentity {
  id: string;
  name: string;
  scopes: Scope[];
}

interface KeysFile {
  format: "astropile-keys";
  version: 1;
  keys: ApiKeyEntry[];
}

const KEY_PATTERN = /^ap_([0-9a-f]{16})_([0-9a-f]{64})$/;
/** A running server looks at the keys file at most this often. */
const RELOAD_INTERVAL_MS = 1000;

/** True when scope `have` grants scope `need`. */
export function scopeGrants(have: Scope, need: Scope): boolean {
  return SCOPES.indexOf(have) >= SCOPES.indexOf(need);
}

/** The scopes a key of `scope` holds (`write` → read, write). */
export function scopesOf(scope: Scope): Scope[] {
  return SCOPES.slice(0, SCOPES.indexOf(scope) + 1);
}

function isScope(x: unknown): x is Scope {
  return typeof x === "string" && (SCOPES as readonly string[]).includes(x);
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function parseKeysFile(text: string, path: string): ApiKeyEntry[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`keys file is not JSON: ${(e as Error).message}`, { file: path });
  }
  const file = data as Partial<KeysFile>;
  if (file?.format !== "astropile-keys" || file.version !== 1 || !Array.isArray(file.keys))
    throw new FormatError("not an AstroPile keys file (format astropile-keys, version 1)", {
      file: path,
    });
  return file.keys.map((k, i) => {
    const ok =
      typeof k?.id === "string" &&
      /^[0-9a-f]{16}$/.test(k.id) &&
      typeof k.name === "string" &&
      typeof k.sha256 === "string" &&
      /^[0-9a-f]{64}$/.test(k.sha256) &&
      typeof k.createdAt === "string" &&
      Array.isArray(k.scopes) &&
      k.scopes.every(isScope);
    if (!ok) throw new FormatError(`key ${i} is malformed`, { file: path });
    return {
      id: k.id,
      name: k.name,
      scopes: [...k.scopes],
      sha256: k.sha256,
      createdAt: k.createdAt,
    };
  });
}

/**
 * The API keys of a server, kept in a JSON file (hashes only). Open it with
 * {@link KeyStore.open}; `create` and `revoke` rewrite the file atomically; `verify` checks a key a
 * request presented, re-reading the file when it changed.
 */
export class KeyStore {
  /** The keys file. */
  readonly path: string;
  private keys: ApiKeyEntry[];
  private fileStamp: string;
  private checkedAt = 0;

  private constructor(path: string, keys: ApiKeyEntry[], stamp: string) {
    this.path = path;
    this.keys = keys;
    this.fileStamp = stamp;
  }

  /** Opens a keys file; a missing file is an empty store (the file is created by `create`). */
  static async open(path: string): Promise<KeyStore> {
    const { keys, stamp } = await KeyStore.load(path);
    return new KeyStore(path, keys, stamp);
  }

  private static async load(path: string): Promise<{ keys: ApiKeyEntry[]; stamp: string }> {
    let text: string;
    let stamp: string;
    try {
      const s = await stat(path);
      stamp = `${s.ino}:${s.size}:${s.mtimeMs}`;
      text = await readFile(path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return { keys: [], stamp: "" };
      throw e;
    }
    return { keys: parseKeysFile(text, path), stamp };
  }

  /** The keys (no secrets), oldest first. */
  list(): ApiKeyEntry[] {
    return this.keys.map((k) => ({ ...k, scopes: [...k.scopes] }));
  }

  /**
   * Creates a key and saves the file. Returns the key text: it is shown once and never stored
   * (only its hash is).
   */
  async create(options: {
    name: string;
    scope: Scope;
  }): Promise<{ key: string; entry: ApiKeyEntry }> {
    if (!isScope(options.scope))
      throw new UsageError(`scope "${String(options.scope)}" must be read, write or admin`);
    if (
      !options.name ||
      options.name.length > 200 ||
      [...options.name].some((c) => c.charCodeAt(0) < 32)
    )
      throw new UsageError("a key name must be 1 to 200 printable characters");
    await this.reload(true);
    let id = randomBytes(8).toString("hex");
    while (this.keys.some((k) => k.id === id)) id = randomBytes(8).toString("hex");
    const secret = randomBytes(32).toString("hex");
    const entry: ApiKeyEntry = {
      id,
      name: options.name,
      scopes: scopesOf(options.scope),
      sha256: sha256Hex(secret),
      createdAt: new Date().toISOString(),
    };
    await this.save([...this.keys, entry]);
    return { key: `ap_${id}_${secret}`, entry: { ...entry } };
  }

  /** Removes the key with this id (or whole key text); NotFoundError when there is none. */
  async revoke(idOrKey: string): Promise<ApiKeyEntry> {
    await this.reload(true);
    const id = KEY_PATTERN.exec(idOrKey)?.[1] ?? idOrKey;
    const entry = this.keys.find((k) => k.id === id);
    if (!entry) throw new NotFoundError(`no key with id ${id}`, { file: this.path });
    await this.save(this.keys.filter((k) => k !== entry));
    return entry;
  }

  /**
   * The identity of a key text, or null when it is malformed, unknown or revoked. Compares
   * hashes in constant time.
   */
  async verify(key: string): Promise<ApiKeyIdentity | null> {
    const m = KEY_PATTERN.exec(key);
    if (!m) return null;
    await this.reload(false);
    const entry = this.keys.find((k) => k.id === m[1]);
    if (!entry) return null;
    const want = Buffer.from(entry.sha256, "hex");
    const got = createHash("sha256").update(m[2]!).digest();
    if (!timingSafeEqual(want, got)) return null;
    return { id: entry.id, name: entry.name, scopes: [...entry.scopes] };
  }

  private async reload(force: boolean): Promise<void> {
    const now = Date.now();
    if (!force && now - this.checkedAt < RELOAD_INTERVAL_MS) return;
    this.checkedAt = now;
    let stamp = "";
    try {
      const s = await stat(this.path);
      stamp = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    if (stamp === this.fileStamp) return;
    const loaded = await KeyStore.load(this.path);
    this.keys = loaded.keys;
    this.fileStamp = loaded.stamp;
  }

  private async save(keys: ApiKeyEntry[]): Promise<void> {
    const file: KeysFile = { format: "astropile-keys", version: 1, keys };
    await writeFileAtomic(this.path, `${JSON.stringify(file, null, 2)}\n`);
    // Only the owner reads the hashes (they are not secrets, but nobody else needs them).
    await chmod(this.path, 0o600).catch(() => {});
    const s = await stat(this.path);
    this.keys = keys;
    this.fileStamp = `${s.ino}:${s.size}:${s.mtimeMs}`;
    this.checkedAt = Date.now();
  }
}
