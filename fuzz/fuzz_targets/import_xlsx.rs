//! Workbook imports, from the inside: a zip's compressed, checksummed
//! bytes make poor material for mutation, so the input is the XML parts of
//! an XLSX (the first worksheet, the shared strings, the styles and the
//! workbook, separated by 0xFF, which UTF-8 never holds, after a first byte
//! that picks the kind as in the `import` target), zipped here around a
//! fixed package. What calamine reads of them goes through the import
//! parser, which never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, parts)) = data.split_first() else {
        return;
    };
    let parts: Vec<&[u8]> = parts.split(|&b| b == 0xff).collect();
    fundsync_fuzz::import_file(pick, fundsync_fuzz::xlsx::package(&parts));
});
