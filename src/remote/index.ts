/**
 * Remote datasets: AstroPile datasets on HTTP(S) servers and S3-compatible object stores, read by
 * byte ranges through the range cache, and published to S3 or to an AstroPile server.
 *
 * `openDataset("https://host/path/dataset")` and `openDataset("s3://bucket/prefix")` (from
 * "astropile") use this layer; import it directly for publishing and for the counters.
 *
 * @module astropile/remote
 */
import { resolve } from "node:path";
import { isRemoteUrl, remotePath } from "../storage/remote-hook.ts";
import { configureRemote, type RemoteOptions } from "./remote-file.ts";

export { isRemoteUrl, remotePath, remoteUrl } from "../storage/remote-hook.ts";
export {
  PublishError,
  RemoteAccessDeniedError,
  RemoteChangedError,
  RemoteError,
  RemoteOfflineError,
  redactUrl,
} from "./errors.ts";
export {
  MAX_LISTING_BYTES,
  MAX_LISTING_ENTRIES,
  parseIndexPage,
  type RemoteEntry,
  type RemoteLister,
  remoteLister,
} from "./listing.ts";
export { type RemoteOptions, type RemoteStats, remoteStats } from "./remote-file.ts";
export { stopFetchWorker } from "./sync-bridge.ts";
export type { TransportOptions } from "./transport.ts";

/**
 * Registers how a remote dataset root is read and returns the path the storage layer opens it
 * by (`/@remote/<scheme>/<host>/<path>`): every file under it is then read by byte ranges.
 */
export function remoteRoot(url: string, options: RemoteOptions = {}): string {
  const clean = url.replace(/\/+$/, "");
  configureRemote(clean, options);
  return remotePath(clean);
}

/**
 * A dataset root as the storage layer takes it: a local directory resolved to an absolute path,
 * or an `http(s)://` / `s3://` location registered for ranged reads (see {@link remoteRoot}).
 */
export function datasetRoot(location: string, options: RemoteOptions = {}): string {
  return isRemoteUrl(location) ? remoteRoot(location, options) : resolve(location);
}
export {
  type PublishItem,
  type PublishOptions,
  type PublishProgress,
  type PublishResult,
  publishDataset,
} from "./publish.ts";
