/**
 * Readers and writers of outside formats: FITS (with TAN WCS), CSV, ECSV and Parquet. Columns come out
 * in the storage column model (ColumnSpec / ColumnBatch) with null masks beside them.
 *
 * @module astropile/formats
 */
export {
  CsvReader,
  type CsvReadOptions,
  type CsvWriteOptions,
  CsvWriter,
  openCsv,
  type TextTableBatch,
  writeCsv,
} from "./csv.ts";
export {
  type EcsvColumn,
  type EcsvHeader,
  type EcsvOpenOptions,
  EcsvReader,
  type EcsvWriteOptions,
  EcsvWriter,
  openEcsv,
  parseEcsvHeader,
  writeEcsv,
} from "./ecsv.ts";
export type { EcsvMetaValue } from "./ecsv-yaml.ts";
export {
  type FitsColumn,
  FitsFile,
  FitsHdu,
  type FitsImage,
  type FitsOpenOptions,
  FitsTable,
  type FitsTableBatch,
  type HduKind,
  openFits,
  streamFits,
} from "./fits.ts";
export {
  type FitsCard,
  type FitsCardInput,
  type FitsComplex,
  FitsHeader,
  type FitsValue,
  type FitsValueKind,
  formatCard,
  parseHeader,
} from "./fits-header.ts";
export {
  type FitsHduInput,
  type FitsImageInput,
  type FitsTableInput,
  FitsTableWriter,
  FitsWriter,
  writeFits,
} from "./fits-writer.ts";
export {
  type ParquetCompression,
  ParquetReader,
  type ParquetWriteOptions,
  type ParquetWriteResult,
  writeParquetFile,
} from "./parquet.ts";
export {
  decodeExample,
  decodeSafetensors,
  EXAMPLE_METADATA_KEY,
  encodeExample,
  encodeSafetensors,
  type Safetensors,
  type SafetensorsDtype,
  type Tensor,
  type TensorData,
} from "./safetensors.ts";
export {
  type Cutout,
  cutout,
  type ImageArray,
  type Matrix2,
  TanWcs,
  type TanWcsParams,
} from "./wcs.ts";
