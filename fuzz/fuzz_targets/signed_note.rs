//! C2SP signed notes: an accepted note is canonical; verification never panics.
#![no_main]
use pes_gateway::signed_note::Note;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(note) = Note::parse(&text) {
        assert_eq!(note.to_text(), text);
        let _ = note.verify(&[pes_fuzz::keys::log(), pes_fuzz::keys::witness()]);
    }
});
