//! Output: containers' lines with a `pod/container | ` prefix, and events,
//! interleaved on one stream in the order they happen. A container's line
//! longer than [`MAX_LINE`] is split, as the kubelet splits at 16 KiB: its
//! pieces but the last are prefixed `pod/container + ` (the kubelet's `P`
//! for partial; `|` is its `F`).

use std::io::Write;
use std::sync::Mutex;

/// Where `up` writes. Lines are written whole, so they never interleave
/// mid-line.
pub struct Console {
    color: bool,
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("color", &self.color)
            .finish_non_exhaustive()
    }
}

// One colour per name, as compose does.
const COLORS: [&str; 6] = ["36", "33", "32", "35", "34", "31"];

impl Console {
    /// Writes to stdout, coloured when `color`.
    pub fn stdout(color: bool) -> Self {
        Self::new(Box::new(std::io::stdout()), color)
    }

    /// Writes to `out`.
    pub fn new(out: Box<dyn Write + Send>, color: bool) -> Self {
        Self {
            color,
            out: Mutex::new(out),
        }
    }

    fn prefix(&self, name: &str) -> String {
        if !self.color {
            return name.to_string();
        }
        let hash = name
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        format!("\x1b[{}m{name}\x1b[0m", COLORS[hash % COLORS.len()])
    }

    fn write(&self, line: &str) {
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Output that cannot be written (a closed pipe) is dropped; the
        // workloads go on.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// A line of a container's output.
    pub fn line(&self, name: &str, text: &str) {
        self.write(&format!("{} | {text}", self.prefix(name)));
    }

    /// A piece of a container's line that the next line of `name` goes on
    /// with (a line longer than [`MAX_LINE`]): `+` stands for `|`.
    pub fn partial_line(&self, name: &str, text: &str) {
        self.write(&format!("{} + {text}", self.prefix(name)));
    }

    /// A state change of `name` (a pod, `pod/container`, a Job or a
    /// Service).
    pub fn event(&self, name: &str, text: &str) {
        self.write(&format!("[event] {}: {text}", self.prefix(name)));
    }

    /// Copies `reader`'s lines as `name`'s output, on a thread of its own,
    /// until the writing side is closed. Joining the thread waits for the
    /// last line. A line longer than [`MAX_LINE`] bytes is written in pieces
    /// (see [`Lines`]), so a guest that never writes a newline costs `up`
    /// no more than one piece.
    pub(crate) fn pump(
        self: &std::sync::Arc<Self>,
        name: String,
        reader: std::io::PipeReader,
    ) -> Option<std::thread::JoinHandle<()>> {
        let console = self.clone();
        let spawned = std::thread::Builder::new()
            .name("wasmpod-log".into())
            .spawn(move || {
                let mut lines = Lines::new(std::io::BufReader::new(reader));
                while let Some(piece) = lines.next_piece() {
                    let text = String::from_utf8_lossy(&piece.text);
                    if piece.continued {
                        console.partial_line(&name, &text);
                    } else {
                        console.line(&name, &text);
                    }
                }
            });
        match spawned {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start a log thread; output is lost");
                None
            }
        }
    }
}

/// The most bytes of a container's output written as one line, as the
/// kubelet's 16 KiB.
pub const MAX_LINE: usize = 16 * 1024;

/// One line of output, or a piece of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Piece {
    /// The bytes, without the newline (and without a `\r` before it).
    pub(crate) text: Vec<u8>,
    /// The line goes on in the next piece (the kubelet's `P`; a line's last
    /// piece, or a whole line, is its `F`).
    pub(crate) continued: bool,
}

/// Splits a stream into lines of at most [`MAX_LINE`] bytes. A longer line
/// comes in pieces of [`MAX_LINE`] bytes (fewer when that would cut a UTF-8
/// character: the character starts the next piece), all but the last
/// marked `continued`. Memory is bounded by one piece plus the reader's
/// buffer, however long the line.
pub(crate) struct Lines<R> {
    reader: R,
    /// Bytes of the current line read but not yet given out (at most
    /// [`MAX_LINE`] + 3: a character carried over).
    buf: Vec<u8>,
    done: bool,
}

impl<R: std::io::BufRead> Lines<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            reader,
            buf: Vec::with_capacity(MAX_LINE),
            done: false,
        }
    }

    /// The next line or piece; `None` at the end of the stream (or at a
    /// read error, which ends it too).
    pub(crate) fn next_piece(&mut self) -> Option<Piece> {
        loop {
            if self.done {
                if self.buf.is_empty() {
                    return None;
                }
                // The last line had no newline: it is whole anyway.
                return Some(self.whole());
            }
            if self.buf.len() >= MAX_LINE {
                // A full piece. Whether it ends the line depends on what
                // comes next: a line end right after it makes it whole.
                let mut cr = false;
                loop {
                    match self.reader.fill_buf() {
                        Ok([b'\n', ..]) => {
                            self.reader.consume(1);
                            return Some(self.whole());
                        }
                        Ok([b'\r', ..]) if !cr => {
                            self.reader.consume(1);
                            cr = true;
                        }
                        Ok([]) | Err(_) => {
                            self.done = true;
                            break;
                        }
                        Ok(_) => break,
                    }
                }
                let cut = utf8_cut(&self.buf[..MAX_LINE]);
                let text: Vec<u8> = self.buf.drain(..cut).collect();
                if cr {
                    // Not a line end after all: the next piece's.
                    self.buf.push(b'\r');
                }
                if self.done && self.buf.is_empty() {
                    // The stream ended right after a full piece.
                    return Some(Piece {
                        text,
                        continued: false,
                    });
                }
                return Some(Piece {
                    text,
                    continued: true,
                });
            }
            let available = match self.reader.fill_buf() {
                Ok([]) | Err(_) => {
                    self.done = true;
                    continue;
                }
                Ok(bytes) => bytes,
            };
            let room = MAX_LINE - self.buf.len();
            let take = &available[..available.len().min(room)];
            if let Some(i) = take.iter().position(|b| *b == b'\n') {
                self.buf.extend_from_slice(&take[..i]);
                self.reader.consume(i + 1);
                return Some(self.whole());
            }
            let n = take.len();
            self.buf.extend_from_slice(take);
            self.reader.consume(n);
        }
    }

    /// The buffer as a whole line (or a line's last piece), less a
    /// trailing `\r`.
    fn whole(&mut self) -> Piece {
        let mut text = std::mem::replace(&mut self.buf, Vec::with_capacity(MAX_LINE));
        if text.last() == Some(&b'\r') {
            text.pop();
        }
        Piece {
            text,
            continued: false,
        }
    }
}

/// Where to end a piece of `bytes` so as not to cut a UTF-8 character: the
/// start of a character that is incomplete at the end, if any (at most 3
/// bytes back), else the end. Bytes that are not UTF-8 are cut anywhere.
fn utf8_cut(bytes: &[u8]) -> usize {
    let end = bytes.len();
    for back in 1..=3.min(end) {
        let b = bytes[end - back];
        if b & 0xC0 == 0x80 {
            // A continuation byte: look further back for its lead.
            continue;
        }
        let len = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return end,
        };
        return if len > back { end - back } else { end };
    }
    end
}

#[cfg(test)]
mod tests {
    use super::{Lines, MAX_LINE, Piece};
    use proptest::prelude::*;

    fn pieces(input: &[u8], buffer: usize) -> Vec<Piece> {
        let mut lines = Lines::new(std::io::BufReader::with_capacity(buffer, input));
        std::iter::from_fn(|| lines.next_piece()).collect()
    }

    fn piece(text: &[u8], continued: bool) -> Piece {
        Piece {
            text: text.to_vec(),
            continued,
        }
    }

    #[test]
    fn short_lines_are_whole_and_lose_their_line_ends() {
        for buffer in [1, 3, 8192] {
            assert_eq!(
                pieces(b"one\ntwo\r\n\nlast", buffer),
                [
                    piece(b"one", false),
                    piece(b"two", false),
                    piece(b"", false),
                    piece(b"last", false)
                ]
            );
        }
        assert!(pieces(b"", 8192).is_empty());
    }

    #[test]
    fn a_long_line_comes_in_marked_pieces_of_at_most_max_line() {
        let mut input = vec![b'x'; 3 * MAX_LINE + 10];
        input.extend_from_slice(b"\nnext\n");
        for buffer in [7, 8192, 100_000] {
            let got = pieces(&input, buffer);
            assert_eq!(got.len(), 5, "buffer {buffer}");
            for p in &got[..3] {
                assert_eq!(*p, piece(&[b'x'; MAX_LINE], true));
            }
            assert_eq!(got[3], piece(&[b'x'; 10], false));
            assert_eq!(got[4], piece(b"next", false));
        }
    }

    #[test]
    fn a_line_of_exactly_max_line_is_one_whole_line() {
        let mut input = vec![b'y'; MAX_LINE];
        input.extend_from_slice(b"\r\n");
        assert_eq!(pieces(&input, 8192), [piece(&[b'y'; MAX_LINE], false)]);
        // A `\r` after a full piece that does not end the line starts the
        // next piece.
        let mut input = vec![b'y'; MAX_LINE];
        input.extend_from_slice(b"\rz\n");
        assert_eq!(
            pieces(&input, 8192),
            [piece(&[b'y'; MAX_LINE], true), piece(b"\rz", false)]
        );
        let input = vec![b'y'; 2 * MAX_LINE];
        assert_eq!(
            pieces(&input, 8192),
            [
                piece(&[b'y'; MAX_LINE], true),
                piece(&[b'y'; MAX_LINE], false)
            ]
        );
    }

    #[test]
    fn pieces_do_not_cut_a_utf8_character() {
        // "é" is two bytes: the one that would straddle the cut starts the
        // next piece.
        let mut input = vec![b'a'; MAX_LINE - 1];
        input.extend_from_slice("é€😀".repeat(2).as_bytes());
        let got = pieces(&input, 8192);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], piece(&[b'a'; MAX_LINE - 1], true));
        assert_eq!(got[1].text, "é€😀".repeat(2).as_bytes());
        for p in &got {
            assert!(std::str::from_utf8(&p.text).is_ok());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn pieces_join_back_into_the_lines(
            lines in prop::collection::vec(
                prop::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..3 * MAX_LINE),
                0..4,
            ),
            buffer in 1usize..20_000,
        ) {
            let input: Vec<u8> = lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
            let got = pieces(&input, buffer);
            let mut joined: Vec<Vec<u8>> = Vec::new();
            let mut current = Vec::new();
            for p in got {
                prop_assert!(p.text.len() <= MAX_LINE);
                current.extend_from_slice(&p.text);
                if !p.continued {
                    joined.push(std::mem::take(&mut current));
                }
            }
            prop_assert!(current.is_empty());
            let want: Vec<Vec<u8>> = lines
                .iter()
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
                .collect();
            prop_assert_eq!(joined, want);
        }
    }
}
