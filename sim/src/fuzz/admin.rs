//! The admin endpoint's request decoder (bytes from a socket) and what the engine does
//! with whatever decodes: the server must answer every input, never panic.

use std::path::Path;
use std::sync::Arc;

use engine::admin::{decode_reply, decode_request, encode_reply, encode_request};
use engine::clock::ManualClock;
use engine::file::spec::FileSpec;
use engine::vfs::MemVfs;
use engine::{Config, Engine, OpenMode};

/// The file the engine under request holds open (seeds name it).
pub const ADMIN_FUZZ_FILE: &str = "/fuzz/held.btr";

/// Decode the bytes as a request; one that decodes must encode back to the same bytes
/// (the encoding is canonical) and is executed by an engine holding
/// [`ADMIN_FUZZ_FILE`] open, whose reply must encode and decode unchanged. The bytes
/// are also decoded as a reply (the client's side of the same format).
pub fn admin_request(data: &[u8]) {
    let _ = decode_reply(data);
    let Ok(req) = decode_request(data) else {
        return;
    };
    let again = encode_request(&req);
    assert_eq!(
        again.as_deref(),
        Some(data),
        "request encode→decode not canonical"
    );
    let spec = FileSpec::unique_u32_key(8, 512);
    let mut eng = Engine::new(
        Arc::new(MemVfs::new()),
        Arc::new(ManualClock::new()),
        Config::default(),
    );
    let path = Path::new(ADMIN_FUZZ_FILE);
    if eng.create(path, &spec).is_err() {
        return;
    }
    let Ok(h) = eng.open(path, OpenMode::Normal) else {
        return;
    };
    let _ = eng.insert(h, &[1, 0, 0, 0, 0, 0, 0, 0]);
    let reply = eng.admin(&req);
    assert_eq!(
        decode_reply(&encode_reply(&reply)).as_ref(),
        Ok(&reply),
        "reply encode→decode round trip"
    );
    let _ = eng.close(h);
}
