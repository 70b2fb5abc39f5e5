//! The preset loader on arbitrary text: it must return Ok or a clear error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok((preset, _)) = inferscope::preset::Preset::parse(text) {
            // What loads must also save and load back to the same thing.
            let again = preset.to_ron().expect("a loaded preset serializes");
            let (back, _) = inferscope::preset::Preset::parse(&again).expect("a saved preset loads");
            assert_eq!(back, preset);
        }
    }
});
