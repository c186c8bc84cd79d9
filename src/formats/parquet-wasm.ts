// The few parts of parquet-wasm (the Rust arrow-rs Parquet writer compiled to
// WebAssembly) that AstroPile uses, typed here and loaded on first use. Its own declarations
// need the DOM's WebAssembly types, which a Node program (and a consumer's strict build) lacks,
// so they are kept out of the type check; loading it lazily also keeps its 15 MB wasm module out
// of processes that never touch Parquet.
import { createRequire } from "node:module";

export interface WasmTable {
  recordBatches(): WasmRecordBatch[];
  intoIPCStream(): Uint8Array;
  free(): void;
}
export interface WasmRecordBatch {
  readonly numRows: number;
  free(): void;
}
export interface WasmWriterProperties {
  free(): void;
}
export interface WasmWriterPropertiesBuilder {
  setCompression(codec: number): WasmWriterPropertiesBuilder;
  setMaxRowGroupSize(rows: number): WasmWriterPropertiesBuilder;
  setCreatedBy(who: string): WasmWriterPropertiesBuilder;
  setKeyValueMetadata(metadata: Map<string, string>): WasmWriterPropertiesBuilder;
  build(): WasmWriterProperties;
}
export interface ParquetWasm {
  Compression: { UNCOMPRESSED: number; SNAPPY: number; ZSTD: number };
  Table: { fromIPCStream(buf: Uint8Array): WasmTable };
  WriterPropertiesBuilder: new () => WasmWriterPropertiesBuilder;
  writeParquet(table: WasmTable, properties?: WasmWriterProperties): Uint8Array;
  transformParquetStream(
    batches: ReadableStream<WasmRecordBatch>,
    properties?: WasmWriterProperties,
  ): Promise<ReadableStream<Uint8Array>>;
}

let loaded: ParquetWasm | undefined;

/** The parquet-wasm module (Node build, CommonJS), loaded once. */
export function parquetWasm(): ParquetWasm {
  loaded ??= createRequire(import.meta.url)("parquet-wasm") as ParquetWasm;
  return loaded;
}
