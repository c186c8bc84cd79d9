// Typed errors shared by every layer. Each names the file and, where known, the place in it
// (column, HDU, byte offset), so a user with a 100 TB dataset can find the bad part.

export interface ErrorPlace {
  /** File the problem is in. */
  file?: string;
  /** Column (HDF5 dataset, FITS column) the problem is in. */
  column?: string;
  /** Any further place: row, byte offset, HDU. */
  detail?: string;
}

export class AstroPileError extends Error {
  readonly file?: string;
  readonly column?: string;
  constructor(message: string, place: ErrorPlace = {}, options?: { cause?: unknown }) {
    const where = [
      place.file ? `file ${place.file}` : "",
      place.column ? `column "${place.column}"` : "",
      place.detail ?? "",
    ]
      .filter(Boolean)
      .join(", ");
    super(where ? `${message} (${where})` : message, options);
    this.name = new.target.name;
    this.file = place.file;
    this.column = place.column;
  }
}

/** A file that is not HDF5, is truncated, or whose structure HDF5 cannot read. */
export class CorruptFileError extends AstroPileError {}
/** A column asked for that a file or dataset does not have. */
export class MissingColumnError extends AstroPileError {}
/** Columns of one file with different row counts, or a batch with ragged columns. */
export class ColumnLengthError extends AstroPileError {}
/** A value or array that does not fit the column's declared type or shape. */
export class SchemaError extends AstroPileError {}
/** The manifest says one thing and the files on disk another. */
export class ManifestMismatchError extends AstroPileError {}
/** A manifest that is missing, unreadable JSON, or does not follow the manifest schema. */
export class ManifestError extends AstroPileError {}
/** Writing failed (disk full, library error); the final file was not created. */
export class WriteError extends AstroPileError {}
/** An object id, row or config that is not in the dataset. */
export class NotFoundError extends AstroPileError {}
/** Arguments out of range: rows past the end, bad options. */
export class UsageError extends AstroPileError {}
/** An outside format (FITS, CSV, ECSV) whose content breaks its standard: bad card, truncated data. */
export class FormatError extends AstroPileError {}
