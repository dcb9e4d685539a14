//! How many bytes of debug info an executable carries: the sizes of its
//! `.debug_*` sections that are not loaded, read from the ELF section
//! headers alone (a few kilobytes of a 200 MB file). `wasmpod node image`
//! uses it to keep unstripped binaries out of the installer image. It does
//! not parse DWARF, and reads only 64-bit little-endian ELF (x86_64,
//! aarch64); anything else counts as carrying none.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

const SHF_ALLOC: u64 = 0x2;
const SHT_NOBITS: u32 = 8;
const SECTION_HEADER: usize = 64;
/// Bounds for a damaged or hostile file: more sections, or a longer
/// names table, than any linker writes for a program.
const MAX_SECTIONS: usize = 1 << 20;
const MAX_NAMES: usize = 64 << 20;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

fn read_at(file: &mut File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0; len];
    file.read_exact(&mut buf)?;
    Ok(buf)
}

/// The bytes in `path`'s `.debug_*` sections that are not loaded into
/// memory (`.debug_gdb_scripts`, which rustc places in loaded memory, is
/// not debug info). 0 for a stripped binary or a file that is not 64-bit
/// little-endian ELF.
pub fn debug_info_bytes(path: &Path) -> std::io::Result<u64> {
    let mut file = File::open(path)?;
    let mut header = [0u8; 64];
    let n = file.read(&mut header)?;
    if n < header.len() || header[..4] != *b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return Ok(0);
    }
    let shoff = u64_at(&header, 0x28);
    let shentsize = usize::from(u16_at(&header, 0x3a));
    let mut shnum = usize::from(u16_at(&header, 0x3c));
    let mut shstrndx = usize::from(u16_at(&header, 0x3e));
    if shoff == 0 || shentsize < SECTION_HEADER {
        return Ok(0);
    }
    // Extended numbering: with 0xff00 sections or more, section 0 holds
    // the count (sh_size) and the names' index (sh_link).
    if shnum == 0 || shstrndx == 0xffff {
        let first = read_at(&mut file, shoff, SECTION_HEADER)?;
        if shnum == 0 {
            shnum = usize::try_from(u64_at(&first, 32)).unwrap_or(0);
        }
        if shstrndx == 0xffff {
            shstrndx = u32_at(&first, 40) as usize;
        }
    }
    if shnum == 0 || shnum > MAX_SECTIONS || shstrndx >= shnum {
        return Ok(0);
    }
    let table = read_at(&mut file, shoff, shnum * shentsize)?;
    let section = |i: usize| &table[i * shentsize..i * shentsize + SECTION_HEADER];
    let names = section(shstrndx);
    let names_len = usize::try_from(u64_at(names, 32)).unwrap_or(usize::MAX);
    if names_len > MAX_NAMES {
        return Ok(0);
    }
    let names = read_at(&mut file, u64_at(names, 24), names_len)?;
    let mut total = 0;
    for i in 0..shnum {
        let s = section(i);
        let name_at = u32_at(s, 0) as usize;
        let name = names
            .get(name_at..)
            .and_then(|n| n.split(|&c| c == 0).next())
            .unwrap_or_default();
        if name.starts_with(b".debug_")
            && u64_at(s, 8) & SHF_ALLOC == 0
            && u32_at(s, 4) != SHT_NOBITS
        {
            total += u64_at(s, 32);
        }
    }
    Ok(total)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ELF64 LE file: section headers only, for sections
    /// `(name, flags, size)` (plus the null section and `.shstrtab`).
    pub(crate) fn elf_with(sections: &[(&str, u64, u64)]) -> Vec<u8> {
        let mut names = vec![0u8];
        let mut name_at = Vec::new();
        for (name, _, _) in sections.iter().chain([&(".shstrtab", 0, 0)]) {
            name_at.push(names.len() as u32);
            names.extend_from_slice(name.as_bytes());
            names.push(0);
        }
        let shoff = 64 + names.len() as u64;
        let shnum = sections.len() + 2;
        let mut out = vec![0u8; 64];
        out[..6].copy_from_slice(b"\x7fELF\x02\x01");
        out[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        out[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        out[0x3c..0x3e].copy_from_slice(&(shnum as u16).to_le_bytes());
        out[0x3e..0x40].copy_from_slice(&((shnum - 1) as u16).to_le_bytes());
        out.extend_from_slice(&names);
        out.extend_from_slice(&[0u8; 64]);
        let strtab = (".shstrtab", 0, names.len() as u64);
        for (i, (_, flags, size)) in sections.iter().chain([&strtab]).enumerate() {
            let mut h = [0u8; 64];
            h[0..4].copy_from_slice(&name_at[i].to_le_bytes());
            h[4..8].copy_from_slice(&1u32.to_le_bytes());
            h[8..16].copy_from_slice(&flags.to_le_bytes());
            // Only .shstrtab's contents are read; it starts at byte 64.
            h[24..32].copy_from_slice(&64u64.to_le_bytes());
            h[32..40].copy_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&h);
        }
        out
    }

    #[test]
    fn counts_unloaded_debug_sections_only() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("bin");
        std::fs::write(
            &path,
            elf_with(&[
                (".text", SHF_ALLOC, 1000),
                (".debug_gdb_scripts", SHF_ALLOC, 34),
                (".debug_info", 0, 5000),
                (".debug_line", 0, 700),
                (".symtab", 0, 300),
            ]),
        )
        .expect("write");
        assert_eq!(debug_info_bytes(&path).expect("read"), 5700);
    }

    #[test]
    fn a_stripped_binary_or_a_script_has_none() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("bin");
        std::fs::write(&path, elf_with(&[(".text", SHF_ALLOC, 1000)])).expect("write");
        assert_eq!(debug_info_bytes(&path).expect("read"), 0);
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").expect("write");
        assert_eq!(debug_info_bytes(&path).expect("read"), 0);
    }
}
