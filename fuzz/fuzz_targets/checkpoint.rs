//! tlog checkpoints: a parsed body serialises back to what it means.
#![no_main]
use pes_gateway::audit::checkpoint::{verify_checkpoint, Checkpoint};
use pes_gateway::signed_note::Note;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(note) = Note::parse(&text) {
        if let Ok(c) = Checkpoint::parse_body(&note.body) {
            assert_eq!(Checkpoint::parse_body(&c.body()), Ok(c));
        }
    }
    let _ = verify_checkpoint(&text, &pes_fuzz::keys::log(), &[pes_fuzz::keys::witness()]);
});
