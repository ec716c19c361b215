//! The package's global allocator (src/alloc.rs: dlmalloc over memory grown in larger steps)
//! under the patterns a replica makes: many small blocks kept alive, large buffers grown by
//! reallocation, everything freed and the memory reused. Checks contents, not speed.

// Links the package, and with it its `#[global_allocator]`.
use statesync_wasm as _;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn blocks_keep_their_contents_through_growth_reallocation_and_reuse() {
    for round in 0..2u8 {
        // 20,000 small blocks alive at once, each with its own contents.
        let small: Vec<Vec<u8>> =
            (0..20_000u32).map(|i| vec![(i % 251) as u8 ^ round; 1 + (i % 300) as usize]).collect();
        // A buffer grown to 32 MiB one push at a time (reallocation across memory growth).
        let mut big: Vec<u32> = Vec::new();
        for i in 0..(8u32 << 20) {
            big.push(i ^ u32::from(round));
        }
        for (i, block) in small.iter().enumerate() {
            let i = i as u32;
            assert_eq!(block.len(), 1 + (i % 300) as usize);
            assert!(block.iter().all(|&b| b == (i % 251) as u8 ^ round), "block {i} changed");
        }
        assert!(big.iter().enumerate().all(|(i, &v)| v == i as u32 ^ u32::from(round)));
        // Zeroed allocations really are zero, also where freed memory is reused.
        drop(small);
        let zeroed = vec![0u64; 1 << 20];
        assert!(zeroed.iter().all(|&v| v == 0));
    }
}
