//! Shared pieces of the fuzz targets: a cursor that turns the fuzzer's bytes into decisions,
//! and the credentials every target signs with (those of the test vectors).
//!
//! Each target in `src/bin/` reads its input with [`Bytes`] and checks invariants with
//! `assert!`: a panic is a finding (AFL records it as a crash).

/// The app id of the test vectors (`core/tests/data/events.json`).
pub const APP_ID: &str = "AK20240101TEST";
/// The app secret of the test vectors.
pub const APP_SECRET: &str = "sk_test_secret_0123456789abcdef";

/// Reads decisions from fuzzer input; past the end every read yields zero / empty.
#[derive(Debug)]
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    /// A cursor over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Whether every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte.
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes, little endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next four bytes, little endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// The next bit (low bit of a byte).
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A byte slice whose length is the next byte.
    pub fn slice(&mut self) -> &'a [u8] {
        let len = usize::from(self.u8()).min(self.data.len());
        let (head, rest) = self.data.split_at(len);
        self.data = rest;
        head
    }

    /// A string whose length is the next byte (invalid UTF-8 replaced).
    pub fn string(&mut self) -> String {
        String::from_utf8_lossy(self.slice()).into_owned()
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}
