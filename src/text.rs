//! Text without formatting machinery: a stack buffer that lines, names and
//! environment entries are assembled in (no allocation, so the child may use
//! one between fork and exec), and the one decimal parser every number
//! hupwatch reads goes through. A leaf: it imports nothing of the crate.
//! The modules that own a concept add its words to `Text`: `signals` names
//! signals, `sys` says errno in words, `report` says generations and statuses.

/// The most a `Text` holds; what does not fit is cut.
pub const CAPACITY: usize = 1024;

/// Bytes under construction on the stack.
pub struct Text {
    buf: [u8; CAPACITY],
    len: usize,
}

impl Text {
    pub fn new() -> Text {
        Text { buf: [0; CAPACITY], len: 0 }
    }

    pub fn bytes(&mut self, b: &[u8]) -> &mut Text {
        // Keep one byte free (a line's newline, an entry's NUL); cut the rest.
        let room = CAPACITY - 1 - self.len;
        let n = b.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
        self
    }

    pub fn text(&mut self, s: &str) -> &mut Text {
        self.bytes(s.as_bytes())
    }

    pub fn num(&mut self, mut n: u64) -> &mut Text {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.bytes(&digits[i..])
    }

    /// Bytes from outside (a command-line value, a path, a STATUS text)
    /// kept on one line: control bytes and bytes that are not UTF-8 as
    /// `\xNN`, and past `limit` input bytes cut with `...`.
    pub fn quoted(&mut self, b: &[u8], limit: usize) -> &mut Text {
        // The bytes of `b` up to a little past the limit, and how many
        // bytes from `at` on are known to be valid UTF-8.
        let whole = b.len();
        let b = &b[..whole.min(limit.saturating_add(4))];
        let mut valid = 0;
        for (at, &byte) in b.iter().enumerate() {
            // Cut only before the first byte of a character.
            if at >= limit && byte & 0xc0 != 0x80 {
                return self.text("...");
            }
            if valid == 0 {
                valid = match core::str::from_utf8(&b[at..]) {
                    Ok(s) => s.len(),
                    Err(e) => e.valid_up_to(),
                };
            }
            if valid == 0 || byte < 0x20 || byte == 0x7f {
                let hex = b"0123456789abcdef";
                self.bytes(&[b'\\', b'x', hex[byte as usize >> 4], hex[byte as usize & 15]]);
            } else {
                self.bytes(&[byte]);
            }
            valid = valid.saturating_sub(1);
        }
        if whole > b.len() {
            self.text("...");
        }
        self
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The text with one more byte after it (`\n` for a log line, NUL for a
    /// C string): there is always room for it.
    pub fn ended_by(&mut self, last: u8) -> &[u8] {
        self.buf[self.len] = last;
        &self.buf[..self.len + 1]
    }
}

/// The text before and after the first `separator`.
pub fn split(text: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let at = text.iter().position(|&b| b == separator)?;
    Some((&text[..at], &text[at + 1..]))
}

/// Digits only (no sign, no spaces), as a number; `None` when empty or too
/// large for 64 bits. One parser for every number hupwatch reads.
pub fn parse_decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u64, |n, &b| {
        let digit = (b as char).to_digit(10)?;
        n.checked_mul(10)?.checked_add(digit as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(t: &Text) -> String {
        String::from_utf8(t.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn words_and_numbers() {
        let mut t = Text::new();
        t.num(0).text(" ").num(u64::MAX).bytes(b" x");
        assert_eq!(string(&t), "0 18446744073709551615 x");
        assert_eq!(t.ended_by(0).last(), Some(&0));
    }

    #[test]
    fn cuts_long_text_instead_of_overflowing() {
        let mut t = Text::new();
        for _ in 0..200 {
            t.text("0123456789");
        }
        assert_eq!(t.as_bytes().len(), CAPACITY - 1);
        assert_eq!(t.ended_by(b'\n').len(), CAPACITY);
    }

    #[test]
    fn quoting_keeps_one_line() {
        let mut t = Text::new();
        t.quoted(b"a\nb\x1b\xffc", 100).text("|").quoted("h\u{e9}llo".as_bytes(), 100).text("|").quoted(b"abcdef", 3);
        assert_eq!(string(&t), "a\\x0ab\\x1b\\xffc|h\u{e9}llo|abc...");
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        for bad in [&b""[..], b"18446744073709551616", b"-1", b"+1", b" 1", b"1a", b"0x10", b"\xd9\xa3"] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }
}
