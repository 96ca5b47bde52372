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
    // Not inlined: zeroing the buffer in place at every call site is longer than a call.
    #[inline(never)]
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

    pub fn num(&mut self, n: u64) -> &mut Text {
        self.radix(n, 10)
    }

    /// `n` in base `base` (2 to 16), lowercase, without leading zeros.
    pub fn radix(&mut self, mut n: u64, base: u64) -> &mut Text {
        let mut digits = [0u8; 64];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[(n % base) as usize];
            n /= base;
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
        // bytes of the valid UTF-8 character at `at` are left.
        let whole = b.len();
        let b = &b[..whole.min(limit.saturating_add(4))];
        let mut valid = 0;
        for (at, &byte) in b.iter().enumerate() {
            // Cut only before the first byte of a character.
            if at >= limit && byte & 0xc0 != 0x80 {
                return self.text("...");
            }
            if valid == 0 {
                valid = char_len(&b[at..]);
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

/// The length of the UTF-8 character `b` starts with, or 0 when `b` does not
/// start with a valid one (a stray continuation byte, an overlong form, a
/// surrogate, past U+10FFFF, or cut short), as `core::str::from_utf8` judges:
/// its own validator is 450 bytes.
fn char_len(b: &[u8]) -> usize {
    // The length, and the range the second byte must be in.
    let (len, second) = match b.first() {
        Some(0..=0x7f) => return 1,
        Some(0xc2..=0xdf) => (2, 0x80..=0xbf),
        Some(0xe0) => (3, 0xa0..=0xbf),
        Some(0xed) => (3, 0x80..=0x9f),
        Some(0xe1..=0xef) => (3, 0x80..=0xbf),
        Some(0xf0) => (4, 0x90..=0xbf),
        Some(0xf1..=0xf3) => (4, 0x80..=0xbf),
        Some(0xf4) => (4, 0x80..=0x8f),
        _ => return 0,
    };
    let valid = b.len() >= len && second.contains(&b[1]) && b[2..len].iter().all(|&c| c & 0xc0 == 0x80);
    if valid { len } else { 0 }
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
    let mut n: u64 = 0;
    for &b in text {
        // Bytes below '0' wrap around to large values too.
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(digit as u64)?;
    }
    Some(n)
}

/// The parts of `text` between `separator` bytes: one splitter for every
/// separator, so that its code is there once.
pub fn fields(text: &[u8], separator: u8) -> impl Iterator<Item = &[u8]> {
    text.split(move |&b| b == separator)
}

/// The words of a table of NUL-ended words, in order: one compact string
/// instead of an array of pointers (errno texts, signal names).
pub fn words(table: &'static [u8]) -> impl Iterator<Item = &'static [u8]> {
    // The table ends with a NUL: no empty word after it.
    fields(&table[..table.len().saturating_sub(1)], 0)
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
        t.num(0).text(" ").num(u64::MAX).bytes(b" x ").radix(0xdb8, 16).text(" ").radix(u64::MAX, 2);
        assert_eq!(string(&t), format!("0 18446744073709551615 x db8 {}", "1".repeat(64)));
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
    fn utf8_judged_as_the_standard_library_does() {
        // Every character boundary case, and random bytes, against from_utf8.
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for first in 0..=255u8 {
            for second in [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff] {
                for third in [0x80, 0xbf, 0x41, 0xc0] {
                    cases.push(vec![first, second, third, 0x80]);
                    cases.push(vec![first, second, third]);
                }
                cases.push(vec![first, second]);
            }
            cases.push(vec![first]);
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let bytes = (0..6)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    [0x41, 0x80, 0xbf, 0xc3, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, (seed >> 32) as u8][seed as usize % 11]
                })
                .collect();
            cases.push(bytes);
        }
        for case in cases {
            let expected = match core::str::from_utf8(&case) {
                Ok(s) => s.chars().next().map_or(0, char::len_utf8),
                Err(e) if e.valid_up_to() > 0 => {
                    core::str::from_utf8(&case[..e.valid_up_to()]).unwrap().chars().next().map_or(0, char::len_utf8)
                }
                Err(_) => 0,
            };
            assert_eq!(char_len(&case), expected, "{case:x?}");
        }
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
