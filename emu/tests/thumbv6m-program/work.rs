/// Integer work that exercises what rustc emits for ARMv6-M: jump tables, 64-bit and signed
/// division (compiler-builtins), variable shifts, sorting, core::fmt, memcpy.
pub fn work(out: &mut [u32; 8]) {
    let mut buf = [0u8; 1000];
    let mut x: u32 = 12345;
    for b in buf.iter_mut() {
        x = x.wrapping_mul(1103515245).wrapping_add(12345);
        *b = (x >> 16) as u8;
    }
    let mut crc = 0xffff_ffffu32;
    for &b in buf.iter() {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    out[0] = !crc;
    let mut acc: u64 = 0x1234_5678_9abc_def0;
    let mut q: u64 = 0;
    for i in 1..200u64 {
        acc = acc.wrapping_mul(6364136223846793005).wrapping_add(i);
        q ^= acc / (i * 7 + 3);
        q = q.rotate_left((i % 64) as u32);
    }
    out[1] = q as u32;
    out[2] = (q >> 32) as u32;
    let mut s: i32 = -123456789;
    let mut t: i32 = 0;
    for i in 0..70u32 {
        t = t.wrapping_add(s / ((i as i32) - 35 | 1));
        t ^= (s >> (i % 32)) ^ ((s as u32) << (i % 32)) as i32;
        s = s.wrapping_mul(31).wrapping_add(i as i32);
        let w = (i64::from(s) >> (i % 64)) as i32;
        t = t.wrapping_add(w);
    }
    out[3] = t as u32;
    let mut arr = [0u16; 300];
    for (i, a) in arr.iter_mut().enumerate() {
        *a = ((i * 7919) % 1000) as u16 ^ 0x55;
    }
    arr.sort_unstable();
    let mut h = 0u32;
    for (i, a) in arr.iter().enumerate() {
        h = h.wrapping_mul(33) ^ (*a as u32) ^ i as u32;
    }
    out[4] = h;
    use core::fmt::Write;
    struct W {
        b: [u8; 256],
        n: usize,
    }
    impl Write for W {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            for &c in s.as_bytes() {
                if self.n < 256 {
                    self.b[self.n] = c;
                    self.n += 1;
                }
            }
            Ok(())
        }
    }
    let mut w = W { b: [0; 256], n: 0 };
    let _ = write!(
        w,
        "{} {:x} {:?} {:>8} {}",
        -42i64,
        0xdead_beefu32,
        Some(3u8),
        "pad",
        1u64 << 40
    );
    let mut fh = 0u32;
    for &c in &w.b[..w.n] {
        fh = fh.wrapping_mul(16777619) ^ c as u32;
    }
    out[5] = fh;
    out[6] = w.n as u32;
    let mut a = [0u8; 97];
    let mut b = [0u8; 131];
    for (i, x) in b.iter_mut().enumerate() {
        *x = i as u8;
    }
    a[3..90].copy_from_slice(&b[17..104]);
    let mut ch = 0u32;
    for (i, x) in a.iter().enumerate() {
        ch = ch.wrapping_add((*x as u32) * (i as u32 + 1));
    }
    out[7] = ch;
}
