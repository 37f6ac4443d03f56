//! Strict text decoding: legacy encodings to UTF-8, refusing invalid byte sequences with their
//! byte offset instead of replacing them (a silent U+FFFD would corrupt a name).

use std::io::{self, Read};

use encoding_rs::{DecoderResult, Encoding, GB18030, UTF_8};

use crate::adapter::AdapterError;
use crate::mapping::EncodingName;

/// The encoding_rs encoding for a mapping's encoding name.
pub(crate) fn encoding_of(name: EncodingName) -> &'static Encoding {
    match name {
        EncodingName::Utf8 => UTF_8,
        // GBK is a subset of GB 18030; decoding with the superset accepts every GBK file.
        EncodingName::Gb18030 | EncodingName::Gbk => GB18030,
    }
}

/// Label for messages.
pub(crate) fn label(name: EncodingName) -> &'static str {
    match name {
        EncodingName::Utf8 => "UTF-8",
        EncodingName::Gb18030 => "GB18030",
        EncodingName::Gbk => "GBK",
    }
}

/// The payload of the `io::Error` a [`StrictDecoder`] returns on an invalid sequence.
#[derive(Debug)]
pub(crate) struct InvalidBytes {
    /// Byte offset of the invalid sequence in the raw input.
    pub offset: u64,
}

impl std::fmt::Display for InvalidBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid byte sequence at byte {}", self.offset)
    }
}

impl std::error::Error for InvalidBytes {}

/// Turns an I/O error from a [`StrictDecoder`] chain into an adapter error.
pub(crate) fn io_to_adapter(e: io::Error, encoding: EncodingName) -> AdapterError {
    if e.get_ref().is_some_and(|inner| inner.is::<InvalidBytes>()) {
        let offset = e
            .get_ref()
            .and_then(|i| i.downcast_ref::<InvalidBytes>())
            .map(|b| b.offset)
            .unwrap_or(0);
        return AdapterError::Encoding {
            encoding: label(encoding).to_string(),
            location: format!("byte {offset}"),
        };
    }
    AdapterError::Io(e)
}

/// A reader that decodes `inner` from `encoding` to UTF-8, failing on invalid sequences.
/// A leading UTF-8 byte-order mark is removed.
pub(crate) struct StrictDecoder<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    raw: Vec<u8>,
    raw_start: usize,
    raw_end: usize,
    /// Raw bytes consumed by the decoder so far.
    consumed: u64,
    out: Vec<u8>,
    out_start: usize,
    out_end: usize,
    eof: bool,
    finished: bool,
    /// Offset of an invalid sequence found after text still to be handed out.
    pending: Option<u64>,
}

const RAW_BUF: usize = 64 * 1024;

impl<R: Read> StrictDecoder<R> {
    pub(crate) fn new(inner: R, encoding: &'static Encoding) -> Self {
        StrictDecoder {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            raw: vec![0; RAW_BUF],
            raw_start: 0,
            raw_end: 0,
            consumed: 0,
            out: vec![0; RAW_BUF * 3 + 16],
            out_start: 0,
            out_end: 0,
            eof: false,
            finished: false,
            pending: None,
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        while self.out_start == self.out_end && !self.finished {
            if self.raw_start == self.raw_end && !self.eof {
                self.raw_start = 0;
                self.raw_end = 0;
                let n = loop {
                    match self.inner.read(&mut self.raw) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                };
                if n == 0 {
                    self.eof = true;
                }
                self.raw_end = n;
            }
            let src = &self.raw[self.raw_start..self.raw_end];
            let (result, read, written) =
                self.decoder
                    .decode_to_utf8_without_replacement(src, &mut self.out, self.eof);
            self.raw_start += read;
            self.consumed += read as u64;
            self.out_start = 0;
            self.out_end = written;
            match result {
                DecoderResult::InputEmpty => {
                    if self.eof {
                        self.finished = true;
                    }
                }
                DecoderResult::OutputFull => {}
                DecoderResult::Malformed(bad, after) => {
                    // The bad sequence ended `after` bytes before the read position.
                    let offset = self
                        .consumed
                        .saturating_sub(u64::from(bad) + u64::from(after));
                    // Hand out the good text first; the fault surfaces on the next fill.
                    self.pending = Some(offset);
                    self.finished = true;
                }
            }
        }
        // Checked after decoding: when the bad sequence comes first in a fill there is no good
        // text to hand out, and an empty read would look like the end of the input (found by
        // fuzzing: an invalid first byte, or one at a 64 KiB read boundary, silently ended the
        // input there).
        if self.out_start == self.out_end {
            if let Some(offset) = self.pending {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    InvalidBytes { offset },
                ));
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for StrictDecoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.fill()?;
        let n = (self.out_end - self.out_start).min(buf.len());
        buf[..n].copy_from_slice(&self.out[self.out_start..self.out_start + n]);
        self.out_start += n;
        Ok(n)
    }
}

/// Decodes a whole byte slice strictly; `None` when it holds an invalid sequence.
pub(crate) fn decode_slice<'b>(
    bytes: &'b [u8],
    encoding: &'static Encoding,
) -> Option<std::borrow::Cow<'b, str>> {
    encoding.decode_without_bom_handling_and_without_replacement(bytes)
}

/// Encodes UTF-8 text back into an export's encoding (a retried row's body). GB 18030 covers all
/// of Unicode, so nothing is lost; GBK exports get GB 18030, which they are decoded as.
pub(crate) fn encode(text: &str, name: EncodingName) -> Vec<u8> {
    match name {
        EncodingName::Utf8 => text.as_bytes().to_vec(),
        EncodingName::Gb18030 | EncodingName::Gbk => GB18030.encode(text).0.into_owned(),
    }
}

/// Decodes a short piece of an export (a header line kept for retries) leniently: invalid
/// sequences become U+FFFD instead of failing, since the body's own decode reports them.
pub(crate) fn decode_lossy(bytes: &[u8], name: EncodingName) -> String {
    match name {
        EncodingName::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
        EncodingName::Gb18030 | EncodingName::Gbk => GB18030.decode(bytes).0.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], enc: &'static Encoding) -> (String, Option<u64>) {
        let mut d = StrictDecoder::new(bytes, enc);
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            match d.read(&mut buf) {
                Ok(0) => return (String::from_utf8(out).unwrap(), None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => {
                    let off = e
                        .get_ref()
                        .unwrap()
                        .downcast_ref::<InvalidBytes>()
                        .unwrap()
                        .offset;
                    return (String::from_utf8(out).unwrap(), Some(off));
                }
            }
        }
    }

    #[test]
    fn gb18030_four_byte_characters_decode_intact() {
        let (bytes, _, bad) = GB18030.encode("𠮷a张");
        assert!(!bad);
        assert_eq!(decode_all(&bytes, GB18030), ("𠮷a张".to_string(), None));
    }

    #[test]
    fn invalid_bytes_fail_at_their_offset_after_the_good_text() {
        let (text, off) = decode_all(b"abc\xff\xfedef", UTF_8);
        assert_eq!(text, "abc");
        assert_eq!(off, Some(3));
        let (text, off) = decode_all(b"\xef\xbb\xbfok", UTF_8);
        assert_eq!((text.as_str(), off), ("ok", None));
    }

    #[test]
    fn invalid_bytes_with_no_good_text_before_them_are_an_error_not_the_end() {
        assert_eq!(decode_all(b"\xffabc", UTF_8), (String::new(), Some(0)));
        assert_eq!(
            decode_all(b"\x81\x20abc", GB18030),
            (String::new(), Some(0))
        );
        // The first raw read ends right before the bad byte, so the fill that meets it has
        // nothing good to hand out.
        let mut input = vec![b'a'; RAW_BUF];
        input.extend_from_slice(b"\xffrest");
        let (text, off) = decode_all(&input, UTF_8);
        assert_eq!((text.len(), off), (RAW_BUF, Some(RAW_BUF as u64)));
    }
}
