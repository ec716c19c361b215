//! The CRC-32 (IEEE) that seals a binary message. Natively it is `crc32fast` (SIMD); in
//! WebAssembly a byte-at-a-time table of 1 KB instead, because crc32fast's portable path carries a
//! 16 KB table, which alone would be 7 % of the browser package's 200 KB budget (docs/adr/0014).

/// The CRC-32 of `bytes`.
#[cfg(not(target_family = "wasm"))]
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// The CRC-32 of `bytes`.
#[cfg(target_family = "wasm")]
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    by_table(bytes)
}

#[cfg(any(target_family = "wasm", test))]
fn by_table(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |crc, &b| TABLE[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8))
}

/// The reflected polynomial's remainders for every byte value.
#[cfg(any(target_family = "wasm", test))]
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::by_table;

    /// The table-driven form used in WebAssembly agrees with crc32fast on every length.
    #[test]
    fn small_table_matches_crc32fast() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for len in [0, 1, 2, 3, 7, 64, 999, 1000] {
            assert_eq!(by_table(&data[..len]), crc32fast::hash(&data[..len]), "length {len}");
        }
        assert_eq!(by_table(b"123456789"), 0xCBF4_3926);
    }
}
