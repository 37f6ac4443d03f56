//! Chinese word segmentation (jieba) as a tantivy tokenizer, and the same words for queries and
//! for the brute-force reference.
//!
//! Documents are cut in jieba's search mode (a compound word and the dictionary words inside
//! it: 软件工程师 gives 软件, 工程, 工程师 and 软件工程师), queries in its precise mode, so
//! every word a query yields is one the index holds for a text that contains it. Words are
//! lower-cased; whitespace and punctuation are not words.

use std::sync::OnceLock;

use jieba_rs::Jieba;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Name the tokenizer is registered under in the index.
pub const TOKENIZER: &str = "jieba";

/// The dictionary, loaded once per process (about 20 MB; it takes a fraction of a second).
fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// Whether a segment is a word worth indexing (has a letter, a digit or a CJK character).
fn is_word(w: &str) -> bool {
    w.chars().any(char::is_alphanumeric)
}

/// The words a document's text is indexed under (search mode), lower-cased.
pub fn index_words(text: &str) -> Vec<String> {
    jieba()
        .cut_for_search(text, true)
        .into_iter()
        .filter(|t| is_word(t.word))
        .map(|t| t.word.to_lowercase())
        .collect()
}

/// The words of a query (precise mode), lower-cased, each once, in query order.
pub fn query_words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in jieba().cut(text, true) {
        if is_word(t.word) {
            let w = t.word.to_lowercase();
            if !out.contains(&w) {
                out.push(w);
            }
        }
    }
    out
}

/// jieba as a tantivy tokenizer (search mode), registered as [`TOKENIZER`].
#[derive(Debug, Clone, Default)]
pub struct JiebaTokenizer;

/// The tokens of one text.
#[derive(Debug)]
pub struct JiebaStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for JiebaTokenizer {
    type TokenStream<'a> = JiebaStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> JiebaStream {
        let tokens = jieba()
            .cut_for_search(text, true)
            .into_iter()
            .filter(|t| is_word(t.word))
            .enumerate()
            .map(|(position, t)| Token {
                offset_from: t.byte_start,
                offset_to: t.byte_end,
                position,
                text: t.word.to_lowercase(),
                position_length: 1,
            })
            .collect();
        JiebaStream { tokens, next: 0 }
    }
}

impl TokenStream for JiebaStream {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        // `advance` returned true before any call (tantivy's contract), so next >= 1.
        &self.tokens[self.next.saturating_sub(1)]
    }

    fn token_mut(&mut self) -> &mut Token {
        let i = self.next.saturating_sub(1);
        &mut self.tokens[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compound_is_indexed_with_its_parts_and_queried_whole() {
        let words = index_words("招聘高级软件工程师，Java 开发！");
        assert!(words.contains(&"软件".to_string()), "{words:?}");
        assert!(words.contains(&"工程师".to_string()), "{words:?}");
        assert!(words.contains(&"java".to_string()), "{words:?}");
        assert!(!words.iter().any(|w| w == "，" || w == "！" || w == " "));
        let q = query_words("Java 工程师 工程师");
        assert_eq!(q, vec!["java".to_string(), "工程师".to_string()]);
    }

    #[test]
    fn the_tokenizer_yields_the_index_words() {
        let mut t = JiebaTokenizer;
        let mut s = t.token_stream("餐厅服务员，包吃住");
        let mut got = Vec::new();
        while s.advance() {
            got.push(s.token().text.clone());
        }
        assert_eq!(got, index_words("餐厅服务员，包吃住"));
    }
}
