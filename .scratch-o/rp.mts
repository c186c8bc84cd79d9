import { PartitionFile } from "../src/storage/partition-file.ts";
for (const p of ["test/fixtures/mmu/a/desi/dr1_main/healpix=1001/001-of-001.hdf5", "test/fixtures/mmu/a/hsc/pdr3_dud_22.5/healpix=1001/001-of-001.hdf5"]) {
  const f = await PartitionFile.open(p);
  f.readRange(["ra"], 0, 1);
  console.log(p, f.readPath("ra"));
  f.close();
}
