//! How a browser's tokenizer reads a page (html5ever's, the HTML standard's), written
//! as `super::tokenizer::describe` writes ours: the oracle our tokenizer is tested
//! against, here and in the sanitiser's fuzz target (which includes this file).
//!
//! The raw-text elements are listed again, on purpose: this is the standard's word on
//! them, for our table to be checked against.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, StartTag, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

/// The tokens of `html`, adjacent texts joined.
pub fn describe(html: &str) -> Vec<String> {
    let opts = TokenizerOpts {
        discard_bom: false,
        ..TokenizerOpts::default()
    };
    let tokenizer = Tokenizer::new(Recorder::default(), opts);
    let input = BufferQueue::default();
    input.push_back(StrTendril::from(html));
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink.tokens.into_inner()
}

#[derive(Default)]
struct Recorder {
    tokens: RefCell<Vec<String>>,
}

impl TokenSink for Recorder {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut out = self.tokens.borrow_mut();
        match token {
            Token::TagToken(tag) if tag.kind == StartTag => {
                let mut s = format!("start {}", tag.name);
                for attr in &tag.attrs {
                    s.push_str(&format!(" {}={:?}", attr.name.local, &*attr.value));
                }
                out.push(s);
                // What a browser's tree builder switches its tokenizer to, in HTML
                // content with scripting on (script read as plain raw text, as we do).
                return match &*tag.name {
                    "script" | "style" | "xmp" | "iframe" | "noembed" | "noframes" | "noscript" => {
                        TokenSinkResult::RawData(RawKind::Rawtext)
                    }
                    "textarea" | "title" => TokenSinkResult::RawData(RawKind::Rcdata),
                    "plaintext" => TokenSinkResult::Plaintext,
                    _ => TokenSinkResult::Continue,
                };
            }
            Token::TagToken(tag) => out.push(format!("end {}", tag.name)),
            Token::CharacterTokens(t) if t.is_empty() => {}
            Token::CharacterTokens(t) => match out.last_mut() {
                Some(last) if last.starts_with("text ") => last.push_str(&t),
                _ => out.push(format!("text {}", &*t)),
            },
            // Comments, doctypes, NUL in text (dropped), parse errors, the end.
            _ => {}
        }
        TokenSinkResult::Continue
    }
}
