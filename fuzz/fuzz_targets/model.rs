//! The model loader and the rewrites on arbitrary bytes (and mutations of real models): Ok or
//! a clear error, never a panic, an abort or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = inferscope::optimize::graph::unknown_fields(data);
    let Ok(m) = inferscope::model::Model::from_bytes(std::path::Path::new("fuzz.onnx"), data.to_vec())
    else {
        return;
    };
    for v in ["int8", "int8:per-channel", "int8:conv", "int8:per-channel:conv", "weight-int8", "fp16", "prune:0.5", "prune:0.5:structured", "trees:2", "max-depth:2"] {
        let _ = inferscope::optimize::rewrite(&m, &v.parse().unwrap());
    }
});
