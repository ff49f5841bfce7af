import { status } from '@grpc/grpc-js';
import { toBase58 } from '@cnode/primitives';
import { BoundedCache, type Registry } from '@cnode/runtime';
import type { ApplicationRecord, BlobRepo } from '@cnode/store';
import { WasmError, prepareModule, type PreparedModule, type WasmLimits } from '@cnode/wasm-runtime';
import { AdminCallError, AdminErrorCode } from '../grpc/admin-errors.js';

/** The artifact of a bundle that holds the application's module. */
const MAIN_ARTIFACT = 'main';

/** The blob holding an application's module: the raw wasm, or a bundle's main artifact. */
export function moduleBlobOf(record: ApplicationRecord): Buffer | undefined {
  if (record.kind === 'wasm') return record.blobId;
  const main =
    record.artifacts.find((a) => a.name === MAIN_ARTIFACT) ?? record.artifacts.find((a) => !a.name.endsWith('.abi'));
  return main ? Buffer.from(main.blobId, 'hex') : undefined;
}

/**
 * Prepared application modules (checked, memory-capped, compiled), one per module blob, bounded
 * (`WASM_MODULE_CACHE`, least recently used out; `cache_*{cache="wasm_modules"}`). Keyed by the
 * module's content address, not the application id (a bundle's id covers every version of it), so
 * an entry never goes stale and two versions never share one.
 */
export class WasmModules {
  private readonly cache: BoundedCache<string, PreparedModule>;

  constructor(
    private readonly deps: { blobs: () => BlobRepo; limits: WasmLimits },
    maxEntries: number,
    registry: Registry,
  ) {
    this.cache = new BoundedCache('wasm_modules', maxEntries, registry);
  }

  /** Checks module bytes as an install does; throws an INVALID_ARGUMENT AdminCallError saying why. */
  check(bytes: Uint8Array): PreparedModule {
    try {
      return prepareModule(bytes, this.deps.limits);
    } catch (err) {
      if (err instanceof WasmError)
        throw new AdminCallError(status.INVALID_ARGUMENT, AdminErrorCode.BadArgument, err.message);
      throw err;
    }
  }

  /** Keeps a module just prepared for an application (at install), so its first call compiles nothing. */
  remember(record: ApplicationRecord, prepared: PreparedModule): void {
    const blob = moduleBlobOf(record);
    if (blob) this.cache.set(blob.toString('hex'), prepared);
  }

  /** The prepared module of an installed application version (read from its blob on a cache miss). */
  async of(record: ApplicationRecord): Promise<PreparedModule> {
    const blob = moduleBlobOf(record);
    const cached = blob && this.cache.get(blob.toString('hex'));
    if (cached) return cached;
    const bytes = blob && (await this.deps.blobs().get(blob));
    if (!bytes) {
      throw new AdminCallError(
        status.FAILED_PRECONDITION,
        AdminErrorCode.ApplicationUnknown,
        `application ${toBase58(record.id)} has no module stored on this node`,
      );
    }
    const prepared = this.check(bytes);
    this.cache.set(blob.toString('hex'), prepared);
    return prepared;
  }
}
