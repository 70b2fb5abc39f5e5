//! The model loader on arbitrary bytes (and mutations of real models): Ok or a clear error,
//! never a panic, an abort or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = inferscope::model::Model::from_bytes(std::path::Path::new("fuzz.onnx"), data.to_vec());
});
