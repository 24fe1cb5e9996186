//! Payment and allocation imports (`POST /api/v1/import/...`, the import
//! pages, `fundsync import`): the first byte picks the kind and whether the
//! importer's categories are restricted, the rest is the file (CSV in
//! UTF-8, with a BOM or in GBK, or a workbook: XLSX, XLS, ODS).
//! `import::parse` never panics, and every row it accepts is an entry whose
//! encoded body decodes back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    fundsync_fuzz::import_file(pick, file.to_vec());
});
